import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineProcessor, type RunResult, run, SqliteStore } from "../../src/index.js";

export const DAY = 86_400_000;

/** A SQLite store filled by real runs, with a clock the runs share, and a live run held open. */
export interface History {
  store: SqliteStore;
  path: string;
  /** The time the recent runs started. */
  t0: number;
  /** When the reports are computed: one minute after `t0`. */
  now: number;
  /** Finishes the gamma run that holds a live lease, then closes and deletes the store. */
  cleanup(): Promise<void>;
  /** Lets the gamma run go on; resolves with its result. */
  releaseGamma(): Promise<RunResult>;
}

function entities(count: number) {
  return ({ after }: { after: unknown }) =>
    Array.from({ length: count }, (_, i) => ({ id: i + 1 })).filter(
      (e) => after === null || e.id > (after as number),
    );
}

/**
 * Builds the history every report test checks by hand (batches of 10; the clock advances by
 * each processor's cost per entity inside processBatch, so durations are exact):
 *
 * - alpha (100 ms/entity, 100 entities): p1 completes (10 s); p2 fails at entity 45 with 40
 *   committed (5 s), then resumes from 40 and completes (60 in 6 s); p3 is suspended by its
 *   signal after 30 (3 s); p4 fails at 15 (10 committed, 2 s), resumes from 10 and fails at 35
 *   (20 more, 3 s), leaving 30/100 at attempt 2.
 * - beta (50 ms/entity, 50 entities), two days earlier: fails at 25 with 20 committed: stale.
 * - gamma (200 ms/entity, 100 entities), two days earlier, lease 3 days: commits 20 then
 *   waits, holding a live lease on an old checkpoint.
 * - delta (100 ms/entity, 60 entities), two days earlier, in a child process killed by
 *   SIGKILL in its third batch: a dead run and a stale checkpoint at 20.
 */
export async function buildHistory(t0 = Date.now() - 60_000): Promise<History> {
  const dir = mkdtempSync(join(tmpdir(), "waymark-reports-"));
  const path = join(dir, "waymark.db");
  const store = new SqliteStore(path);
  let clock = t0;
  const now = () => clock;
  const go = (processor: Parameters<typeof run>[0], partition: string, signal?: AbortSignal) =>
    run(processor, { store, partition, logger: false, now, ...(signal ? { signal } : {}) });

  let failAt: number | null = null;
  const suspend = new AbortController();
  const alpha = defineProcessor<{ id: number }>({
    name: "alpha",
    retry: false,
    batchSize: 10,
    entities: entities(100),
    id: (e) => e.id,
    processBatch: (batch, ctx) => {
      clock += 100 * batch.length;
      if (failAt !== null && batch.some((e) => e.id === failAt)) throw new Error("Quota exceeded");
      if (ctx.partition === "p3" && ctx.batchNumber === 3) suspend.abort();
    },
  });
  const expect = (result: RunResult, status: string) => {
    if (result.status !== status)
      throw new Error(`fixture run ended ${result.status}, not ${status}`);
  };
  expect(await go(alpha, "p1"), "completed");
  clock = t0;
  failAt = 45;
  expect(await go(alpha, "p2"), "failed");
  clock = t0;
  failAt = null;
  expect(await go(alpha, "p2"), "completed");
  clock = t0;
  expect(await go(alpha, "p3", suspend.signal), "suspended");
  clock = t0;
  failAt = 15;
  expect(await go(alpha, "p4"), "failed");
  clock = t0;
  failAt = 35;
  expect(await go(alpha, "p4"), "failed");

  clock = t0 - 2 * DAY;
  const beta = defineProcessor<{ id: number }>({
    retry: false,
    name: "beta",
    batchSize: 10,
    entities: entities(50),
    id: (e) => e.id,
    processBatch: (batch) => {
      clock += 50 * batch.length;
      if (batch.some((e) => e.id === 25)) throw new Error("Timeout");
    },
  });
  expect(await go(beta, "b1"), "failed");

  const child = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      fileURLToPath(new URL("../fixtures/die-mid-run.ts", import.meta.url)),
      path,
      String(t0 - 2 * DAY),
    ],
    { encoding: "utf8" },
  );
  if (child.signal !== "SIGKILL") throw new Error(`die-mid-run did not die: ${child.stderr}`);

  clock = t0 - 2 * DAY;
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let holding: () => void = () => {};
  const isHolding = new Promise<void>((resolve) => {
    holding = resolve;
  });
  const gamma = defineProcessor<{ id: number }>({
    retry: false,
    name: "gamma",
    batchSize: 10,
    leaseTtlMs: 3 * DAY,
    entities: entities(100),
    id: (e) => e.id,
    processBatch: async (batch, ctx) => {
      if (ctx.batchNumber === 3) {
        holding();
        await held;
      }
      clock += 200 * batch.length;
    },
  });
  const gammaRun = go(gamma, "g1");
  await isHolding;
  clock = t0 + 60_000;
  let released = false;
  const releaseGamma = () => {
    released = true;
    release();
    return gammaRun;
  };
  return {
    store,
    path,
    t0,
    now: t0 + 60_000,
    releaseGamma,
    async cleanup() {
      if (!released) await releaseGamma();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
