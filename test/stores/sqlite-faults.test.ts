import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  checkpointKey,
  defineProcessor,
  type RunResult,
  run,
  SqliteStore,
  type SqliteTx,
  StoreError,
} from "../../src/index.js";
import { NO_FIU } from "../support/fiu.js";
import { runFiuScenario } from "../support/fiu-scenario.js";
import { counts } from "../support/tally.js";
import { mountTmpfs, tmpfsUnavailable } from "../support/tmpfs.js";

const SEED = Number(process.env.WAYMARK_FAULT_SEED ?? 9);
const dir = mkdtempSync(join(tmpdir(), "waymark-sqlite-faults-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Appends every entity of a partition to a table without a unique key: a double shows. */
function appending(total: number, batchSize: number, payload = "") {
  return defineProcessor<number, undefined, SqliteTx>({
    name: "faulty",
    batchSize,
    retry: false,
    entities: ({ after }) =>
      Array.from({ length: total }, (_, i) => i + 1).filter(
        (n) => after === null || n > Number(after),
      ),
    id: (n) => n,
    processBatch(batch, ctx) {
      for (const n of batch) {
        ctx.tx.run(
          `INSERT INTO effects (partition, id${payload ? ", payload" : ""}) VALUES (?, ?${payload ? ", ?" : ""})`,
          ctx.partition,
          n,
          ...(payload ? [payload] : []),
        );
      }
    },
  });
}

function integrity(store: SqliteStore): string {
  return store.database.pragma("integrity_check", { simple: true }) as string;
}

/** Every partition's ids 1..total exactly once. */
function assertExactlyOnce(store: SqliteStore, partitions: readonly string[], total: number) {
  for (const partition of partitions) {
    const rows = store.database
      .prepare("SELECT id, count(*) AS n FROM effects WHERE partition = ? GROUP BY id ORDER BY id")
      .all(partition) as Array<{ id: number; n: number }>;
    assert.deepEqual(
      rows.map((r) => r.id),
      Array.from({ length: total }, (_, i) => i + 1),
      `${partition}: every id present`,
    );
    const doubled = rows.filter((r) => r.n !== 1);
    assert.deepEqual(doubled, [], `${partition}: every id written exactly once`);
  }
}

describe("SQLite store under injected I/O errors (libfiu)", { skip: NO_FIU }, () => {
  it("each faulty run fails with a typed error; integrity holds; progress never goes back; exactly once", async () => {
    const summary = await runFiuScenario({ dir, seed: SEED, runs: 30 });
    console.log(
      `libfiu (seed ${SEED}): ${summary.faultCount} faults in ${summary.runs} runs and 4 new ` +
        `stores: ${counts(summary.outcomes)}`,
    );
    assert.deepEqual(summary.violations, []);
    assert.ok(summary.faultCount >= 20, `only ${summary.faultCount} faults fired`);
  });
});

describe("SQLite store on a full or read-only disk (tmpfs)", { skip: tmpfsUnavailable() }, () => {
  it("a run that fills the disk fails with STORE_FULL and keeps its checkpoint; after space is freed it finishes exactly once", async () => {
    const fs = mountTmpfs(2048);
    const file = join(fs.dir, "waymark.db");
    const store = new SqliteStore(file);
    try {
      store.database.exec("CREATE TABLE effects (partition TEXT, id INTEGER, payload TEXT)");
      fs.fill(96 * 1024);
      const processor = appending(200, 10, "x".repeat(2000));
      const full: RunResult = await run(processor, { store, partition: "p", logger: false });
      assert.equal(full.status, "failed");
      assert.ok(full.error instanceof StoreError, String(full.error));
      assert.equal(full.error.code, "STORE_FULL");
      assert.equal(full.error.location, file);
      assert.match(full.error.message, /is full.*Free some space/);
      assert.ok(full.completed > 0 && full.completed < 200, `failed at ${full.completed}`);
      fs.drain();
      const checkpoint = await store.getCheckpoint(checkpointKey("faulty", "p"));
      assert.equal(checkpoint?.completed, full.completed, "the checkpoint stayed where it was");
      assert.equal(integrity(store), "ok");
      const next = await run(processor, { store, partition: "p", logger: false });
      assert.equal(next.status, "completed");
      assert.equal(next.resumedFrom, full.completed);
      assertExactlyOnce(store, ["p"], 200);
      assert.equal(integrity(store), "ok");
    } finally {
      await store.close();
      fs.unmount();
    }
  });

  it("opening a new store on a full disk is STORE_FULL", () => {
    const fs = mountTmpfs(256);
    try {
      fs.fill(0);
      const file = join(fs.dir, "waymark.db");
      assert.throws(
        () => new SqliteStore(file),
        (error: unknown) =>
          error instanceof StoreError && error.code === "STORE_FULL" && error.location === file,
      );
    } finally {
      fs.unmount();
    }
  });

  it("a store on a read-only mount is STORE_READ_ONLY, existing or new", async () => {
    const fs = mountTmpfs(1024);
    try {
      const existing = join(fs.dir, "waymark.db");
      await new SqliteStore(existing).close();
      fs.readOnly(true);
      for (const file of [existing, join(fs.dir, "new.db")]) {
        assert.throws(
          () => new SqliteStore(file),
          (error: unknown) =>
            error instanceof StoreError &&
            error.code === "STORE_READ_ONLY" &&
            error.location === file &&
            /cannot be written.*writable/.test(error.message),
        );
      }
    } finally {
      fs.unmount();
    }
  });
});
