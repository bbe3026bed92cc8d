import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import { SqliteStore } from "../dist/index.js";
import { migrateSqlite } from "../dist/stores/sqlite/sqlite-migrations.js";
import { type BenchRow, median, ms, percentile } from "./stats.js";

const KEY = { processor: "bench-commit", partition: "default", shard: "" };
const STATE = JSON.stringify({ games: 12, points: 345 });

/**
 * One checkpoint commit through `SqliteStore` against the least a hand-written checkpoint
 * costs: one raw better-sqlite3 UPSERT of the same row, into the same table shape, with the
 * same pragmas, in a separate file. Commits alternate between the two so that both see the
 * same disk. Returns the median row and the p99 row.
 */
export async function sqliteCommit(
  synchronous: "FULL" | "NORMAL",
  quick: boolean,
): Promise<BenchRow[]> {
  // A NORMAL commit takes microseconds, so it can afford the samples that make its p99 stable.
  const samples = (quick ? 200 : 3000) * (synchronous === "NORMAL" ? 10 : 1);
  const dir = mkdtempSync(join(tmpdir(), "waymark-bench-"));
  const store = new SqliteStore(join(dir, "store.db"), { synchronous });
  const raw = new Database(join(dir, "raw.db"));
  try {
    raw.pragma("journal_mode = WAL");
    raw.pragma(`synchronous = ${synchronous}`);
    migrateSqlite(raw, "raw.db");
    const upsert = raw.prepare(
      `INSERT INTO checkpoints (processor, partition, processor_version, cursor, completed, total,
         state, fingerprint, run_id, lease_owner, lease_expires_at, fence, attempt, created_at,
         updated_at)
       VALUES (@processor, @partition, 1, @cursor, @completed, NULL, @state, NULL, 'run', 'me',
         @expires, 1, 1, @now, @now)
       ON CONFLICT (processor, partition, shard) DO UPDATE SET cursor = excluded.cursor,
         completed = excluded.completed, state = excluded.state,
         lease_expires_at = excluded.lease_expires_at, updated_at = excluded.updated_at`,
    );
    const acquired = await store.acquire({
      ...KEY,
      owner: "me",
      runId: "run",
      leaseTtlMs: 30_000,
      now: Date.now(),
    });
    if (!acquired.acquired) throw new Error("bench store is leased");
    const lease = acquired.lease;
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let i = 1; i <= samples + 20; i++) {
      const now = Date.now();
      let started = performance.now();
      await store.openBatch(lease).commit({
        kind: "batch",
        processorVersion: 1,
        cursor: i,
        completed: i,
        total: null,
        state: STATE,
        stateCodec: "json",
        fingerprint: null,
        leaseTtlMs: 30_000,
        now,
      });
      const commit = performance.now() - started;
      started = performance.now();
      upsert.run({
        ...KEY,
        cursor: JSON.stringify(i),
        completed: i,
        state: STATE,
        stateCodec: "json",
        expires: now + 30_000,
        now,
      });
      const upserted = performance.now() - started;
      if (i > 20) {
        // The first commits warm the statement cache and the page cache.
        ours.push(commit);
        theirs.push(upserted);
      }
    }
    const row = (label: string, value: number, baseline: number): BenchRow => ({
      name: `sqlite commit, synchronous=${synchronous}, ${label} of ${samples}`,
      value: ms(value),
      baseline: ms(baseline),
      ratio: value / baseline,
      goal: 1.1,
    });
    return [
      row("median", median(ours), median(theirs)),
      row("p99", percentile(ours, 99), percentile(theirs, 99)),
    ];
  } finally {
    await store.close();
    raw.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
