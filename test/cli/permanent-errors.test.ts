import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { waymark } from "./cli.js";

const MODULE = fileURLToPath(new URL("../fixtures/permanent-processors.ts", import.meta.url));

describe("waymark run: a permanent database error", () => {
  let dir: string;
  let db: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-permanent-"));
    db = join(dir, "waymark.db");
    const database = new Database(db);
    database.exec("CREATE TABLE orders_seen (id INTEGER PRIMARY KEY)");
    database.close();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("fails at once, without the default 10 s / 20 s / 40 s of backoff, naming its class", async () => {
    // Killed at 20 s: retried as before, the run would still be waiting out its backoff.
    const result = await waymark(["run", MODULE, "--partition", "p", "--store", `sqlite:${db}`], {
      timeoutMs: 20_000,
    });
    assert.equal(result.code, 1, result.stderr);
    assert.ok(result.elapsedMs < 10_000, `failed in ${Math.round(result.elapsedMs)} ms`);
    assert.match(
      result.stderr,
      /Batch 2 of orders-seen\/p failed \(attempt 1 of 4\): UNIQUE constraint failed: orders_seen\.id.*\. Not retried: SQLITE_CONSTRAINT_PRIMARYKEY is permanent; `retryable` overrides\./,
    );
    assert.doesNotMatch(result.stderr, /Retrying/);
    // The statement staged by ctx.tx.run is named: its SQL, its place, where run was called.
    const named =
      /UNIQUE constraint failed: orders_seen\.id \(ctx\.tx statement 2 of 5 of batch 2: INSERT INTO orders_seen \(id\) VALUES \(\?\); ctx\.tx\.run with this SQL first called at (Object\.)?processBatch \(\S*permanent-processors\.ts:17:\d+\)\)/;
    assert.match(result.stderr, named);
    const read = new Database(db, { readonly: true });
    try {
      const runs = read.prepare("SELECT status, processed, error FROM runs").all();
      assert.deepEqual(runs, [
        {
          status: "failed",
          processed: 5,
          error: (runs[0] as { error: string }).error,
        },
      ]);
      assert.match((runs[0] as { error: string }).error, named);
      const seen = read.prepare("SELECT count(*) AS n FROM orders_seen").get();
      assert.deepEqual(seen, { n: 5 }, "batch 1 committed, nothing of batch 2");
    } finally {
      read.close();
    }
  });
});
