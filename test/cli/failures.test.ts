// `waymark failures` through the CLI, on a SQLite file and on PostgreSQL: an entity whose
// error holds a NUL is ledgered and listed; once a later run processes it, it leaves the
// listing (`--resolved` and `--all` show it, with when and by which run), and a redrive has
// nothing to apply again.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { NO_SERVER, PG_TEST_URL } from "../stores/postgres-factory.js";
import { waymark } from "./cli.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/ledger-processors.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "waymark-failures-"));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Listed {
  cursor: number;
  error: string;
  resolvedAt: number | null;
  resolvedBy: string | null;
}

/** The ledger's story told through the CLI, on the store at `url`. */
async function ledgerFollowsTheEntity(url: string): Promise<void> {
  const store = ["--store", url];
  const runArgs = ["run", FIXTURE, "ledgered", "--partition", "p", ...store, "--json"];

  const poisoned = await waymark(runArgs, { env: { POISON: "7" } });
  assert.equal(poisoned.code, 0, poisoned.stderr);
  const listed = await waymark(["failures", ...store, "--json"]);
  assert.equal(listed.code, 0, listed.stderr);
  const open = JSON.parse(listed.stdout) as Listed[];
  assert.deepEqual(
    open.map((f) => [f.cursor, f.error, f.resolvedAt]),
    [[7, "SyntaxError: Unexpected token \\u0000 in entity 7", null]],
  );
  const table = await waymark(["failures", ...store]);
  assert.match(table.stdout, /^PROCESSOR\s+PARTITION\s+ENTITY\s+ATTEMPTS\s+LAST FAILED\s+ERROR$/m);
  assert.match(
    table.stdout,
    /ledgered\s+p\s+7\s+4\s+.+ago\s+SyntaxError: Unexpected token \\u0000/,
  );

  // The fix is deployed; the partition runs again and processes entity 7.
  const fixed = await waymark([...runArgs, "--rerun-completed"]);
  assert.equal(fixed.code, 0, fixed.stderr);
  const finished = fixed.stdout
    .split("\n")
    .filter((line) => line.includes('"run-finished"'))
    .map((line) => JSON.parse(line) as { runId: string; status: string });
  assert.deepEqual(
    finished.map((f) => f.status),
    ["completed"],
  );

  const after = await waymark(["failures", ...store]);
  assert.equal(after.code, 0, after.stderr);
  assert.equal(after.stdout.trim(), "No failed entities.");
  const resolved = JSON.parse(
    (await waymark(["failures", ...store, "--resolved", "--json"])).stdout,
  );
  assert.deepEqual(
    (resolved as Listed[]).map((f) => [f.cursor, f.resolvedBy]),
    [[7, finished[0]?.runId]],
  );
  const all = await waymark(["failures", ...store, "--all"]);
  assert.match(
    all.stdout,
    /^PROCESSOR\s+PARTITION\s+ENTITY\s+ATTEMPTS\s+LAST FAILED\s+RESOLVED\s+ERROR$/m,
  );
  assert.match(
    all.stdout,
    new RegExp(`ledgered\\s+p\\s+7\\s+4\\s+.+ago\\s+.+ago by ${finished[0]?.runId}`),
  );
  const both = await waymark(["failures", ...store, "--all", "--resolved"]);
  assert.equal(both.code, 2, "--all and --resolved together are a usage error");

  const redriven = await waymark([
    "redrive",
    "ledgered",
    "p",
    "--processors",
    FIXTURE,
    ...store,
    "--json",
  ]);
  assert.equal(redriven.code, 0, redriven.stderr);
  assert.deepEqual(JSON.parse(redriven.stdout).fixed, [], "a resolved entry is not redriven");
}

describe("waymark failures: the ledger follows the entity", { timeout: 120_000 }, () => {
  it("on SQLite", async () => {
    await ledgerFollowsTheEntity(`sqlite:${join(dir, "waymark.db")}`);
  });

  it("on PostgreSQL", { skip: NO_SERVER }, async () => {
    const schema = `t_${randomBytes(6).toString("hex")}`;
    const url = new URL(PG_TEST_URL as string);
    url.searchParams.set("schema", schema);
    try {
      await ledgerFollowsTheEntity(url.href);
    } finally {
      const pool = new pg.Pool({ connectionString: PG_TEST_URL, max: 1 });
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pool.end();
    }
  });
});
