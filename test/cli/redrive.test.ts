import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { redrive, run, SqliteStore } from "../../src/index.js";
import { poisoned } from "../fixtures/poison-processors.js";
import { CLI } from "./cli.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/poison-processors.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "waymark-redrive-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [...CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => {
    stdout += c;
  });
  child.stderr.setEncoding("utf8").on("data", (c: string) => {
    stderr += c;
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("exit", (code) => resolve({ code, stdout, stderr })),
  );
}

describe("failures and redrive", () => {
  it("lists the 3 skipped entities, then redrives exactly those 3 once fixed", async () => {
    const file = join(dir, "waymark.db");
    const store = new SqliteStore(file);
    store.database.exec("CREATE TABLE effects (key TEXT PRIMARY KEY, writes INTEGER NOT NULL)");
    process.env.POISON = "17,4242,9999";
    const first = await run(poisoned, { store, partition: "p1", logger: false });
    delete process.env.POISON;
    assert.equal(first.status, "completed");
    assert.equal(first.skipped, 3);
    await store.close();

    const listed = await cli(["failures", "--store", `sqlite:${file}`, "--json"]);
    assert.equal(listed.code, 0, listed.stderr);
    const ledger = JSON.parse(listed.stdout) as Array<{ cursor: number; error: string }>;
    assert.deepEqual(
      ledger.map((f) => f.cursor).sort((a, b) => a - b),
      [17, 4242, 9999],
    );
    assert.match(ledger[0]?.error ?? "", /poisoned entity/);
    const table = await cli(["failures", "--store", `sqlite:${file}`, "--partition", "p1"]);
    assert.match(table.stdout, /^PROCESSOR\s+PARTITION\s+ENTITY\s+ATTEMPTS/m);
    assert.match(table.stdout, /poisoned\s+p1\s+4242/);

    const redriveArgs = ["redrive", "poisoned", "p1", "--processors", FIXTURE];
    const storeArgs = ["--store", `sqlite:${file}`, "--json"];
    const stillBad = await cli([...redriveArgs, ...storeArgs], { POISON: "4242" });
    assert.equal(stillBad.code, 1, stillBad.stderr);
    const partly = JSON.parse(stillBad.stdout) as { fixed: number[]; stillFailing: number[] };
    assert.deepEqual(partly.fixed, [17, 9999]);
    assert.deepEqual(partly.stillFailing, [4242]);

    const fixed = await cli([...redriveArgs, ...storeArgs]);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.deepEqual(JSON.parse(fixed.stdout).fixed, [4242]);

    const check = new SqliteStore(file);
    try {
      const rows = check.database.prepare("SELECT key, writes FROM effects").all() as Array<{
        key: string;
        writes: number;
      }>;
      assert.equal(rows.length, 10_000, "every entity has its effect");
      assert.ok(
        rows.every((r) => r.writes === 1),
        "no entity was processed twice",
      );
      assert.deepEqual(await check.listFailures(), []);
      assert.equal(
        await check.getCheckpoint({ processor: "poisoned", partition: "p1", shard: "" }),
        null,
      );
    } finally {
      await check.close();
    }
  });

  it("keeps a still-failing entity with its new error; needs lookup", async () => {
    const store = new SqliteStore(join(dir, "again.db"));
    store.database.exec("CREATE TABLE effects (key TEXT PRIMARY KEY, writes INTEGER NOT NULL)");
    process.env.POISON = "5";
    await run(poisoned, { store, logger: false });
    const before = (await store.listFailures())[0];
    const again = await redrive(poisoned, { store, logger: false });
    delete process.env.POISON;
    assert.deepEqual(again.stillFailing, [5]);
    const afterwards = (await store.listFailures())[0];
    assert.equal(afterwards?.attempts, (before?.attempts ?? 0) + 1);
    const { lookup: _, ...noLookup } = poisoned;
    await assert.rejects(redrive({ ...noLookup }, { store }), { code: "INVALID_OPTION" });
    await store.close();
  });
});
