import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AdaptiveBatchSizer } from "../../../src/core/policies/adaptive-batch.js";
import {
  type BatchScope,
  type CheckpointStore,
  defineProcessor,
  InvalidOptionError,
  MemoryStore,
  run,
} from "../../../src/index.js";

/**
 * A real MemoryStore whose commits take simulated time on the run's injected clock, so that
 * commit latency can be chosen without sleeping.
 */
function withCommitLatency(inner: MemoryStore, clock: { now: number }, commitMs: number) {
  return new Proxy(inner, {
    get(target, property) {
      if (property === "openBatch") {
        return (lease: Parameters<MemoryStore["openBatch"]>[0]): BatchScope<unknown> => {
          const scope = target.openBatch(lease);
          return {
            tx: scope.tx,
            rollback: () => scope.rollback(),
            commit: async (write) => {
              clock.now += commitMs;
              await scope.commit(write);
            },
          };
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as CheckpointStore;
}

interface Workload {
  entities: number;
  commitMs: number;
  /** Simulated work time of entity `id`. */
  perEntityMs: (id: number) => number;
  maxBatchMs: number;
}

async function simulate(workload: Workload) {
  const clock = { now: 1_700_000_000_000 };
  const batches: Array<{ size: number; workMs: number }> = [];
  const processor = defineProcessor<number>({
    name: "adaptive",
    retry: false,
    batchSize: { adaptive: { targetOverhead: 0.01, max: 50_000, maxBatchMs: workload.maxBatchMs } },
    entities: () => Array.from({ length: workload.entities }, (_, i) => i + 1),
    id: (n) => n,
    processBatch: (batch) => {
      let work = 0;
      for (const id of batch) work += workload.perEntityMs(id);
      clock.now += work;
      batches.push({ size: batch.length, workMs: work });
    },
  });
  const store = withCommitLatency(new MemoryStore(), clock, workload.commitMs);
  const result = await run(processor, { store, logger: false, now: () => clock.now });
  assert.equal(result.status, "completed");
  assert.equal(result.processed, workload.entities);
  /** Commit overhead over the batches from `from` on. */
  const overhead = (from: number) => {
    const part = batches.slice(from);
    const work = part.reduce((s, b) => s + b.workMs, 0);
    const commits = part.length * workload.commitMs;
    return commits / (work + commits);
  };
  return { batches, overhead };
}

describe("adaptive batch size", () => {
  it("grows batches when entities are fast and commits slow", async (t) => {
    const { batches, overhead } = await simulate({
      entities: 300_000,
      commitMs: 5,
      perEntityMs: () => 0.1,
      maxBatchMs: 30_000,
    });
    t.diagnostic(`sizes ${batches.slice(0, 5).map((b) => b.size)}, overhead ${overhead(0)}`);
    assert.ok(overhead(3) <= 0.01, `steady overhead ${overhead(3)}`);
    assert.ok(overhead(0) <= 0.012, `overall overhead ${overhead(0)}`);
  });

  it("keeps batches small when entities are slow, within maxBatchMs", async (t) => {
    const { batches, overhead } = await simulate({
      entities: 3000,
      commitMs: 2,
      perEntityMs: (id) => 15 + (id % 10),
      maxBatchMs: 1000,
    });
    t.diagnostic(`sizes ${batches.slice(0, 5).map((b) => b.size)}, overhead ${overhead(0)}`);
    assert.ok(overhead(3) <= 0.01, `steady overhead ${overhead(3)}`);
    for (const b of batches.slice(1)) assert.ok(b.workMs <= 1000, `a batch worked ${b.workMs} ms`);
  });

  it("adapts when the work changes speed mid-run", async (t) => {
    const change = 60_000;
    const { batches, overhead } = await simulate({
      entities: 100_000,
      commitMs: 3,
      perEntityMs: (id) => (id <= change ? 0.05 : 2),
      maxBatchMs: 2000,
    });
    let seen = 0;
    const slowFrom = batches.findIndex((b) => {
      seen += b.size;
      return seen > change;
    });
    t.diagnostic(
      `sizes around the change ${batches.slice(slowFrom - 2, slowFrom + 4).map((b) => b.size)}`,
    );
    // Only the batch that straddles the change, and the one sized from its mixed
    // measurement, can overrun: no sizer can know the speed of work it has not seen.
    const over = batches.flatMap((b, i) => (i > 0 && b.workMs > 2000 ? [i] : []));
    assert.ok(
      over.every((i) => i === slowFrom || i === slowFrom + 1),
      `batches ${over} over maxBatchMs (the change is at batch ${slowFrom})`,
    );
    assert.ok(
      overhead(slowFrom + 3) <= 0.01,
      `overhead after the change ${overhead(slowFrom + 3)}`,
    );
    const fast = batches.slice(3, slowFrom);
    const fastWork = fast.reduce((s, b) => s + b.workMs, 0);
    const fastOverhead = (fast.length * 3) / (fastWork + fast.length * 3);
    assert.ok(fastOverhead <= 0.01, `overhead before the change ${fastOverhead}`);
  });

  it("clamps to min and max and converges in a few batches", () => {
    const sizer = new AdaptiveBatchSizer({ min: 10, max: 1000 });
    assert.equal(sizer.next(), 50);
    sizer.record(50, 50, 100); // 1 ms per entity, 100 ms commits: wants ~12,375
    assert.equal(sizer.next(), 500, "grows at most tenfold per batch");
    sizer.record(500, 500, 100);
    assert.equal(sizer.next(), 1000);
    sizer.record(1000, 100_000, 1); // 100 ms per entity now: maxBatchMs 30 s allows ~300
    assert.ok(sizer.next() <= 1000 && sizer.next() >= 10);
  });

  it("validates the adaptive options", () => {
    const base = { name: "x", entities: () => [], id: (n: number) => n, processBatch() {} };
    assert.throws(
      () => defineProcessor({ ...base, batchSize: { adaptive: { targetOverhead: 2 } } }),
      (e: unknown) =>
        e instanceof InvalidOptionError && /batchSize\.adaptive\.targetOverhead/.test(e.message),
    );
    assert.throws(
      () => defineProcessor({ ...base, batchSize: { adaptive: { min: 100, max: 10 } } }),
      /min must not be above max/,
    );
    assert.throws(() => defineProcessor({ ...base, batchSize: 0 }), InvalidOptionError);
  });
});
