// A statement staged by ctx.tx.run on a SQLite store runs at commit, away from the line that
// staged it: its error names the statement (SQL, place in the batch, where run was called),
// alone and in a group commit alike, and keeps the driver's name, code and error as cause.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import {
  defineProcessor,
  run,
  runPartitions,
  SqliteStore,
  type SqliteTx,
} from "../../src/index.js";
import { noBackoff } from "../support/time.js";

const THIS_FILE = /sqlite-staged-errors\.test\.ts:\d+:\d+/;

/** Batches of four statements; the third of batch 2 is bad SQL (it fails at prepare). */
const badThird = defineProcessor<number, undefined, SqliteTx>({
  name: "bad-third",
  batchSize: 2,
  entities: () => [1, 2, 3, 4],
  id: (n) => n,
  processBatch(batch, ctx) {
    const insert = "INSERT INTO seen (partition, id) VALUES (?, ?)";
    for (const n of batch) ctx.tx.run(insert, ctx.partition, n * 10 + ctx.batchNumber);
    ctx.tx.run(
      ctx.batchNumber === 2
        ? "INSERT INTO nowhere\n   (id) VALUES (?)"
        : "DELETE FROM seen WHERE id = ?",
      0,
    );
    ctx.tx.run(insert, ctx.partition, 1000 + ctx.batchNumber);
  },
});

describe("SQLite store: a staged ctx.tx statement that fails names itself", () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-staged-"));
    store = new SqliteStore(join(dir, "waymark.db"));
    store.database.exec(
      "CREATE TABLE seen (partition TEXT, id INTEGER, PRIMARY KEY (partition, id))",
    );
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function assertNamed(error: Error | undefined) {
    assert.ok(error);
    assert.equal(error.name, "SqliteError", "the driver's name stays");
    assert.equal((error as { code?: string }).code, "SQLITE_ERROR", "and its code");
    assert.equal((error.cause as { code?: string }).code, "SQLITE_ERROR");
    assert.match(
      error.message,
      /^no such table: nowhere \(ctx\.tx statement 3 of 4 of batch 2: INSERT INTO nowhere \(id\) VALUES \(\?\); ctx\.tx\.run with this SQL first called at /,
    );
    assert.match(error.message, THIS_FILE, "the call site is the processor's line");
  }

  it("alone: the run fails with the statement named, nothing of the batch committed", async () => {
    const result = await run(badThird, { store, logger: false, sleep: noBackoff });
    assert.equal(result.status, "failed");
    assert.equal(result.completed, 2);
    assertNamed(result.error);
    const rows = store.database.prepare("SELECT id FROM seen ORDER BY id").all();
    assert.deepEqual(rows, [{ id: 11 }, { id: 21 }, { id: 1001 }], "batch 1 only");
  });

  it("in a group commit with other runs: the same message", async () => {
    const result = await runPartitions(badThird, {
      store,
      partitions: ["a", "b", "c"],
      concurrency: 3,
      logger: false,
      sleep: noBackoff,
    });
    assert.equal(result.partitions.length, 3);
    for (const outcome of result.partitions) {
      assert.equal(outcome.status, "failed");
      assertNamed(outcome.result?.error);
    }
    assert.ok(store.groupCommit.groups > 0, "the commits went in groups");
  });
});
