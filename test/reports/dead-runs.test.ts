// A run whose process dies records nothing about itself. These tests build such histories and
// check that every report tells where it died: on every store through the store API (what
// SIGKILL leaves behind), and on SQLite with real processes killed by SIGKILL.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkpointKey } from "../../src/core/checkpoint-key.js";
import type { CheckpointStore } from "../../src/core/store/checkpoint-store.js";
import { defineProcessor, run } from "../../src/index.js";
import { loadRuns, loadStale } from "../../src/reports/load.js";
import { onEveryStore } from "../contract/compare.js";
import { leaseRun } from "../support/run-record.js";
import { until } from "../support/time.js";

const KEY = checkpointKey("orders", "2024-01-15");
const T = 1_700_000_000_000;

/** What a process killed mid-run leaves: a `running` row, a checkpoint at 30/100, a lease. */
async function leaveDeadRun(store: CheckpointStore): Promise<void> {
  const acquired = await store.acquire({
    ...KEY,
    owner: "host:4242:dead",
    runId: "dead-run",
    leaseTtlMs: 30_000,
    now: T,
  });
  assert.ok(acquired.acquired);
  await store.recordRun({ ...leaseRun(acquired.lease, T, "running"), total: 100 });
  for (const completed of [10, 20, 30]) {
    await store.openBatch(acquired.lease).commit({
      kind: "batch",
      processorVersion: 1,
      cursor: completed,
      completed,
      total: 100,
      state: null,
      stateCodec: "json",
      fingerprint: null,
      leaseTtlMs: 30_000,
      now: T + completed * 100,
    });
  }
}

const orders = (gate?: () => Promise<void>) =>
  defineProcessor<number>({
    name: "orders",
    batchSize: 10,
    entities: ({ after }) =>
      Array.from({ length: 100 }, (_, i) => i + 1).filter(
        (n) => after === null || n > Number(after),
      ),
    id: (n) => n,
    count: () => 100,
    processBatch: async () => {
      await gate?.();
    },
  });

describe("runs that died, on every store", { timeout: 120_000 }, () => {
  it("before anyone resumes it: runs shows what it committed, stale lists it", async () => {
    const seen = await onEveryStore(async ({ store }) => {
      await leaveDeadRun(store);
      const now = T + 60_000; // its lease expired 30 s after its last commit
      const [row] = await loadRuns(store, { now });
      const stale = await loadStale(store, { now, olderThanMs: 10_000 });
      return {
        row: [row?.status, row?.running, row?.processed, row?.total],
        dead: stale.runs.map((d) => [d.run.runId, d.cause, d.processed, d.lastSeenAt - T]),
      };
    });
    assert.deepEqual(seen.row, ["running", "lease-expired", 30, 100]);
    assert.deepEqual(seen.dead, [["dead-run", "lease-expired", 30, 3000]]);
  });

  it("the run that takes it over records it failed where it died; the resume starts there", async () => {
    const seen = await onEveryStore(async ({ store }) => {
      await leaveDeadRun(store);
      const clock = T + 3_600_000;
      const result = await run(orders(), {
        store,
        partition: KEY.partition,
        logger: false,
        now: () => clock,
      });
      const runs = await store.listRuns();
      const dead = runs.find((r) => r.runId === "dead-run");
      return {
        resumed: [result.status, result.resumedFrom, result.processed],
        dead: [dead?.status, dead?.processed, (dead?.finishedAt ?? 0) - T],
        error: /^Abandoned: .* took its checkpoint over from the last commit\.$/.test(
          dead?.error ?? "",
        ),
        viewed: (await loadRuns(store, { now: clock })).map((r) => [
          r.status,
          r.processed,
          r.running,
        ]),
      };
    });
    assert.deepEqual(seen.resumed, ["completed", 30, 70]);
    assert.deepEqual(seen.dead, ["failed", 30, 3000], "failed at its last commit, 30 of 100");
    assert.equal(seen.error, true);
    assert.deepEqual(seen.viewed, [
      ["completed", 70, null],
      ["failed", 30, null],
    ]);
  });

  it("a busy run keeps its 0: the run that resumed the checkpoint did not follow it", async () => {
    const seen = await onEveryStore(async ({ store }) => {
      await leaveDeadRun(store);
      // While the dead run's lease is live, a run is busy; once it expired, one resumes.
      for (const at of [T + 10_000, T + 3_600_000]) {
        await run(orders(), { store, partition: KEY.partition, logger: false, now: () => at });
      }
      return (await loadRuns(store, { now: T + 3_600_000 })).map((r) => [r.status, r.processed]);
    });
    assert.deepEqual(seen, [
      ["completed", 70],
      ["busy", 0],
      ["failed", 30],
    ]);
  });

  it("a run in flight shows what it has committed so far, not 0", async () => {
    const seen = await onEveryStore(async ({ store }) => {
      let batches = 0;
      let release: () => void = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const running = run(
        orders(async () => {
          if (++batches === 5) await held;
        }),
        { store, logger: false },
      );
      await until(
        "four batches committed",
        async () => (await store.listCheckpoints())[0]?.completed === 40,
      );
      const [row] = await loadRuns(store);
      release();
      assert.equal((await running).status, "completed");
      return [row?.status, row?.running, row?.processed, row?.total];
    });
    assert.deepEqual(seen, ["running", "live", 40, 100]);
  });
});
