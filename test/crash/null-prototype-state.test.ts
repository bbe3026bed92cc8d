// A null-prototype word count killed by SIGKILL mid-run and resumed in a new process ends with
// exactly the counts of an uninterrupted run, and its dictionary still has no prototype: the
// state codecs restore the prototype they were given, not Object.prototype.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { MemoryStore, run } from "../../src/index.js";
import { describeCounts, wordCount } from "../fixtures/word-count.js";

const CHILD = fileURLToPath(new URL("./word-count-child.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "waymark-word-count-"));
after(() => rmSync(dir, { recursive: true, force: true }));

interface ChildEnd {
  signal: NodeJS.Signals | null;
  report: { status: string; resumedFrom: number | null; error: string | null } & ReturnType<
    typeof describeCounts
  >;
  stderr: string;
}

function child(db: string, codec: string, killAfter: number, skewMs: number): Promise<ChildEnd> {
  const spawned = spawn(
    process.execPath,
    ["--import", "tsx", CHILD, db, codec, String(killAfter), String(skewMs)],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  spawned.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  spawned.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    spawned.once("error", reject);
    spawned.once("close", (_code, signal) => {
      const line = stdout.trim().split("\n").at(-1) ?? "";
      resolve({ signal, report: line ? JSON.parse(line) : null, stderr });
    });
  });
}

describe("a null-prototype state survives SIGKILL and resume exactly", { timeout: 60_000 }, () => {
  for (const codec of ["json", "v8"] as const) {
    it(`with the ${codec} codec: the resumed word count equals the uninterrupted one`, async () => {
      const uninterrupted = await run(wordCount(codec), {
        store: new MemoryStore(),
        logger: false,
      });
      assert.equal(uninterrupted.status, "completed");
      const expected = describeCounts(uninterrupted.state);
      assert.deepEqual(
        expected.counts.find(([word]) => word === "constructor"),
        ["constructor", 25],
      );

      const db = join(dir, `${codec}.db`);
      const killed = await child(db, codec, 120, 0);
      assert.equal(killed.signal, "SIGKILL", killed.stderr);
      // The killed runner's lease (1 s) is still live: the resuming child's clock runs past it.
      const resumed = await child(db, codec, 0, 5_000);
      assert.equal(resumed.report?.status, "completed", resumed.stderr);
      assert.equal(resumed.report.resumedFrom, 120, "it resumed from the killed run's checkpoint");
      assert.deepEqual(resumed.report.counts, expected.counts);
      assert.equal(resumed.report.nullPrototype, true, "the dictionary has no prototype");
    });
  }
});
