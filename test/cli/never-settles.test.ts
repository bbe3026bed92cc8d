import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { waymark } from "./cli.js";

const MODULE = fileURLToPath(new URL("../fixtures/never-settles.ts", import.meta.url));
const SCRIPT = fileURLToPath(new URL("../fixtures/never-settles-script.ts", import.meta.url));

describe("a batch that can never settle", () => {
  let dir: string;
  let db: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-never-"));
    db = join(dir, "waymark.db");
    const database = new Database(db);
    database.exec("CREATE TABLE seen (id INTEGER PRIMARY KEY)");
    database.close();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** The run's history rows and checkpoint lease, read from the store file. */
  function stored() {
    const read = new Database(db, { readonly: true });
    try {
      return {
        runs: read.prepare("SELECT partition, status, processed, error FROM runs").all() as Array<{
          partition: string;
          status: string;
          processed: number;
          error: string | null;
        }>,
        checkpoints: read
          .prepare("SELECT partition, cursor, lease_owner FROM checkpoints")
          .all() as Array<{ partition: string; cursor: string; lease_owner: string | null }>,
      };
    } finally {
      read.close();
    }
  }

  it("waymark run fails it, saying so and where, records it and exits 1 (not 13)", async () => {
    const result = await waymark(["run", MODULE, "--partition", "p", "--store", `sqlite:${db}`]);
    assert.equal(result.code, 1, `exit ${result.code}: ${result.stderr}`);
    const message =
      /Batch 2 of stuck\/p can never finish: processBatch awaits a promise that nothing can settle: the event loop is empty/;
    assert.match(result.stderr, message);
    const { runs, checkpoints } = stored();
    assert.equal(runs.length, 1);
    assert.equal(runs[0]?.status, "failed");
    assert.equal(runs[0]?.processed, 10);
    assert.match(runs[0]?.error ?? "", /^WaymarkError: /);
    assert.match(runs[0]?.error ?? "", message);
    assert.deepEqual(checkpoints, [{ partition: "p", cursor: "10", lease_owner: null }]);
  });

  it("a script's await run() resolves failed with NEVER_SETTLES instead of exiting silently", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", SCRIPT, db], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(stdout), {
      status: "failed",
      code: "NEVER_SETTLES",
      completed: 10,
    });
    const { runs, checkpoints } = stored();
    assert.equal(runs[0]?.status, "failed");
    assert.equal(checkpoints[0]?.lease_owner, null, "the lease was given back");
  });
});
