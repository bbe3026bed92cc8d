import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  checkpointKey,
  defineProcessor,
  type RunResult,
  run,
  SqliteStore,
  type SqliteTx,
  StoreError,
} from "../../src/index.js";
import { NO_FIU, spawnUnderFiu } from "../support/fiu.js";
import { mountTmpfs, tmpfsUnavailable } from "../support/tmpfs.js";

const CHILD = fileURLToPath(new URL("../fixtures/sqlite-fault-child.ts", import.meta.url));
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

interface ChildRun {
  event: "run";
  i: number;
  partition: string;
  armAt: string | number | null;
  armed?: boolean;
  runId?: string;
  status?: string;
  completed?: number;
  error?: { name: string; code?: string; message: string };
  thrown?: { name: string; code?: string; message: string };
  stored: number | null;
  lastCompletedAt: number | null;
  history: string | null;
}

describe("SQLite store under injected I/O errors (libfiu)", { skip: NO_FIU }, () => {
  it("each faulty run fails with a typed error; integrity holds; progress never goes back; exactly once", async () => {
    const file = join(dir, "fiu.db");
    const total = 40;
    const child = spawnUnderFiu(CHILD, [], {
      CONFIG: JSON.stringify({ file, seed: SEED, runs: 30, total, batchSize: 10 }),
    });
    let out = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 0, out);
    const events = out
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);

    // A new store opened while the disk fails: a typed error, never a secondary one.
    const opens = events.filter((e) => e.event === "open");
    assert.equal(opens.length, 4);
    for (const open of opens) {
      const thrown = open.thrown as ChildRun["thrown"];
      assert.equal(thrown?.name, "StoreError", JSON.stringify(open));
      assert.match(String(thrown?.code), /^STORE_(IO_ERROR|FULL)$/);
      assert.doesNotMatch(String(thrown?.message), /cannot rollback/);
    }

    const runs = events.filter((e) => e.event === "run") as unknown as ChildRun[];
    const faulty = runs.filter((r) => r.armed);
    const outcomes = new Map<string, number>();
    const lastStored = new Map<string, number>();
    for (const r of runs) {
      const where = `run ${r.i} (${r.partition}, fault at ${r.armAt})`;
      if (r.armed) {
        const error = r.error ?? r.thrown;
        assert.equal(error?.name, "StoreError", `${where}: ${JSON.stringify(error)}`);
        assert.match(String(error?.code), /^STORE_(IO_ERROR|FULL)$/, where);
        assert.ok(error?.message.includes(file), `${where}: the message names the file`);
        if (r.status !== undefined) assert.equal(r.status, "failed", where);
        const key = `${r.armAt === "open" ? "open" : r.armAt === "completion" ? "completion" : "commit"}: ${error?.code}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      } else {
        assert.equal(r.status, "completed", `${where}: ${JSON.stringify(r.error)}`);
      }
      if (r.status !== undefined) {
        // What the run reported is what the store holds, and history says the same.
        if (r.status === "completed") {
          assert.equal(r.stored, null, where);
          assert.ok(r.lastCompletedAt !== null, where);
        } else {
          assert.equal(r.completed, r.stored, `${where}: reported progress is the stored one`);
        }
        assert.equal(r.history, r.status, `${where}: history agrees`);
      }
      if (r.stored !== null) {
        const before = lastStored.get(r.partition) ?? 0;
        assert.ok(r.stored >= before, `${where}: progress went back from ${before} to ${r.stored}`);
        lastStored.set(r.partition, r.stored);
      }
    }
    assert.ok(faulty.length >= 15, `only ${faulty.length} faults fired`);
    console.log(
      `libfiu: ${faulty.length} faults in ${runs.length} runs (+4 opens of a new store): ` +
        [...outcomes].map(([k, n]) => `${k} x${n}`).join(", "),
    );

    // Finish the last partition without faults, then check the whole file.
    const store = new SqliteStore(file);
    try {
      const partitions = [...new Set(runs.map((r) => r.partition))];
      const unfinished = partitions.filter(
        (p) => runs.filter((r) => r.partition === p).at(-1)?.status !== "completed",
      );
      for (const partition of unfinished) {
        const result = await run(appending(total, 10), { store, partition, logger: false });
        assert.equal(result.status, "completed");
      }
      assert.equal(integrity(store), "ok");
      assertExactlyOnce(store, partitions, total);
    } finally {
      await store.close();
    }
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
