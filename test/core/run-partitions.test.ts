import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import {
  defineProcessor,
  InvalidOptionError,
  type PartitionOutcome,
  type ProcessorDefinition,
  type RunPartitionsOptions,
  runPartitions,
} from "../../src/index.js";
import { type OpenedStore, STORE_FACTORIES } from "../stores/stores.js";
import { captureLogger } from "../support/logger.js";
import { leaseRun } from "../support/run-record.js";
import { until } from "../support/time.js";

/** A clock that a run's `sleep` moves forward: waits take no real time. */
function fakeClock(start: number) {
  const clock = {
    start,
    t: start,
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.t += Math.max(ms, 1);
    },
  };
  return clock;
}
const DAYS = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"];
const PER_DAY = 30;

for (const factory of STORE_FACTORIES) {
  describe(`runPartitions on ${factory.name}`, () => {
    let opened: OpenedStore;
    beforeEach(async () => {
      opened = await factory.open();
    });
    afterEach(async () => {
      await opened.cleanup();
    });

    /** 30 entities a day, each written through ctx.tx as `day:id`. */
    function daily(overrides: Partial<ProcessorDefinition<number>> = {}) {
      return defineProcessor<number>({
        name: "daily",
        batchSize: 10,
        retry: false,
        entities: ({ after }) =>
          Array.from({ length: PER_DAY }, (_, i) => i + 1).filter(
            (n) => after === null || n > (after as number),
          ),
        id: (n) => n,
        async processBatch(batch, ctx) {
          for (const n of batch) await opened.writeEffect(ctx.tx, `${ctx.partition}:${n}`);
        },
        ...overrides,
      });
    }

    function go(processor = daily(), options: Partial<RunPartitionsOptions> = {}) {
      return runPartitions(processor, {
        store: opened.store,
        partitions: DAYS,
        logger: false,
        ...options,
      });
    }

    async function assertEffects(days: readonly string[]) {
      const effects = await opened.effects();
      assert.equal(effects.size, days.length * PER_DAY);
      for (const day of days) {
        for (let n = 1; n <= PER_DAY; n++) {
          assert.equal(effects.get(`${day}:${n}`), 1, `${day}:${n} written once`);
        }
      }
    }

    it("runs every partition, at most `concurrency` at once, and sums them up", async () => {
      let running = 0;
      let most = 0;
      let entered = 0;
      const finished: string[] = [];
      const processor = daily({
        async processBatch(batch, ctx) {
          running++;
          most = Math.max(most, running);
          // The first three batches wait for each other, so the runs overlap however slowly
          // each starts; a fourth run could only start if one of them had ended.
          if (++entered <= 3) await until("three batches open", () => entered >= 3);
          for (const n of batch) await opened.writeEffect(ctx.tx, `${ctx.partition}:${n}`);
          running--;
        },
      });
      const result = await go(processor, {
        concurrency: 3,
        onRunFinished: (o: PartitionOutcome) => finished.push(o.partition),
      });
      assert.equal(result.status, "completed");
      assert.deepEqual(
        result.partitions.map((o) => [o.partition, o.status]),
        DAYS.map((d) => [d, "completed"]),
      );
      assert.equal(result.counts.completed, 5);
      assert.equal(result.processed, 5 * PER_DAY);
      assert.equal(most, 3, "three runs overlapped, never more");
      assert.deepEqual([...finished].sort(), DAYS);
      await assertEffects(DAYS);
      const runs = await opened.store.listRuns({ processor: "daily" });
      assert.equal(runs.filter((r) => r.status === "completed").length, 5);
    });

    it("goes on past a failed partition and lists it with its error", async () => {
      const processor = daily({
        async processBatch(batch, ctx) {
          if (ctx.partition === "2024-01-03" && batch[0] === 11) throw new Error("quota exceeded");
          for (const n of batch) await opened.writeEffect(ctx.tx, `${ctx.partition}:${n}`);
        },
      });
      const result = await go(processor, { concurrency: 2 });
      assert.equal(result.status, "failed");
      assert.equal(result.counts.completed, 4);
      assert.equal(result.counts.failed, 1);
      const failed = result.partitions.find((o) => o.status === "failed");
      assert.equal(failed?.partition, "2024-01-03");
      assert.match(failed?.result?.error?.message ?? "", /quota exceeded/);
      assert.equal(failed?.result?.completed, 10, "the failed partition kept its checkpoint");
      const checkpoint = await opened.store.getCheckpoint({
        processor: "daily",
        partition: "2024-01-03",
        shard: "",
      });
      assert.equal(checkpoint?.completed, 10);
    });

    it("one signal stops every run at its batch boundary and starts no other", async () => {
      const stop = new AbortController();
      // Both first batches are in flight together when the second one asks everything to stop.
      let bothStarted: () => void = () => {};
      const started = new Promise<void>((resolve) => {
        bothStarted = resolve;
      });
      let firstBatches = 0;
      const processor = daily({
        async processBatch(batch, ctx) {
          if (batch[0] === 1 && ++firstBatches === 2) bothStarted();
          await started;
          for (const n of batch) await opened.writeEffect(ctx.tx, `${ctx.partition}:${n}`);
          if (ctx.partition === "2024-01-02" && batch[0] === 1) stop.abort();
          // The other first batch ends only after the stop, whichever wrote faster.
          else await stopped;
        },
      });
      const stopped = new Promise((resolve) => stop.signal.addEventListener("abort", resolve));
      const result = await go(processor, { concurrency: 2, signal: stop.signal });
      assert.equal(result.status, "suspended");
      assert.deepEqual(
        result.partitions.map((o) => o.status),
        ["suspended", "suspended", "not-started", "not-started", "not-started"],
      );
      for (const outcome of result.partitions.slice(0, 2)) {
        assert.equal(outcome.result?.reason, "signal");
        assert.equal(outcome.result?.completed, 10, "the batch in flight committed");
      }
      const effects = await opened.effects();
      assert.equal(effects.size, 20);
    });

    it("counts the time budget for the whole call, not per partition", async () => {
      let clock = 1_000_000;
      const processor = daily({
        async processBatch(batch, ctx) {
          clock += 1000; // each batch takes a simulated second
          for (const n of batch) await opened.writeEffect(ctx.tx, `${ctx.partition}:${n}`);
        },
      });
      // Three batches of a simulated second each: per partition, a 7 s budget would let all
      // five complete. For the whole call it ends the second partition (its planner will
      // not start a batch that would likely end past +7 s), and once one partition could not
      // fit its next batch, no other starts.
      const result = await go(processor, {
        now: () => clock,
        timeBudgetMs: 7000,
        deadlineMarginMs: 0,
      });
      assert.equal(result.status, "suspended");
      assert.deepEqual(
        result.partitions.map((o) => o.status),
        ["completed", "suspended", "not-started", "not-started", "not-started"],
      );
      assert.equal(result.partitions[1]?.result?.reason, "deadline");
      assert.equal(clock, 1_000_000 + 6000, "no batch ran past the budget");
    });

    it("runs every shard of every partition of a sharded processor", async () => {
      const processor = daily({
        shards: () => [
          { id: 0, to: 15 },
          { id: 1, from: 15 },
        ],
      });
      const result = await go(processor, { partitions: DAYS.slice(0, 2), concurrency: 4 });
      assert.equal(result.status, "completed");
      assert.deepEqual(
        result.partitions.map((o) => `${o.partition}#${o.shard}`),
        ["2024-01-01#0", "2024-01-01#1", "2024-01-02#0", "2024-01-02#1"],
      );
      await assertEffects(DAYS.slice(0, 2));
    });

    it("a rerun of an unfinished backfill runs only what it has not completed", async () => {
      let failing = "2024-01-03";
      const processor = daily({
        async processBatch(batch, ctx) {
          if (ctx.partition === failing && batch[0] === 11) throw new Error("quota exceeded");
          for (const n of batch) await opened.writeEffect(ctx.tx, `${ctx.partition}:${n}`);
        },
      });
      const first = await go(processor, { concurrency: 2 });
      assert.equal(first.status, "failed");
      failing = "";
      const rerun = await go(processor, { concurrency: 2 });
      assert.equal(rerun.status, "completed");
      assert.deepEqual(
        rerun.partitions.map((o) => o.status),
        [
          "already-completed",
          "already-completed",
          "completed",
          "already-completed",
          "already-completed",
        ],
      );
      assert.equal(rerun.partitions[2]?.result?.resumedFrom, 10, "resumed from its checkpoint");
      assert.equal(rerun.processed, 20);
      await assertEffects(DAYS);
      // Finished: the same call again runs nothing and says so; rerunCompleted runs it again.
      const again = await go(processor, { concurrency: 2 });
      assert.deepEqual(
        [again.status, again.counts["already-completed"], again.processed],
        ["completed", 5, 0],
      );
      assert.equal(again.backfill?.alreadyFinished, true);
      const rerunAll = await go(processor, { rerunCompleted: true });
      assert.deepEqual([rerunAll.counts.completed, rerunAll.processed], [5, 5 * PER_DAY]);
      // One partition is a run, not a backfill to remember: the same call runs it again.
      // (A clock that moves on every reading: the second call begins after the first ended.)
      let t = Date.now();
      const ticking = { partitions: DAYS.slice(0, 1), now: () => ++t };
      const one = await go(processor, ticking);
      const oneAgain = await go(processor, ticking);
      assert.deepEqual([one.counts.completed, oneAgain.counts.completed], [1, 1]);
    });

    it("rerunCompleted runs again what an unfinished backfill completed", async () => {
      const stop = new AbortController();
      const processor = daily({
        async processBatch(batch, ctx) {
          for (const n of batch) await opened.writeEffect(ctx.tx, `${ctx.partition}:${n}`);
          if (ctx.partition === "2024-01-02" && batch[0] === 21) stop.abort();
        },
      });
      // A clock that moves on every reading: the rerun begins after the first run's completions.
      let t = Date.now();
      const now = () => ++t;
      const first = await go(processor, { signal: stop.signal, now });
      assert.deepEqual(
        first.partitions.map((o) => o.status),
        ["completed", "suspended", "not-started", "not-started", "not-started"],
      );
      const { logger, lines } = captureLogger();
      const rerun = await go(processor, { rerunCompleted: true, logger, now });
      assert.equal(rerun.counts.completed, 5);
      // The redo says why, how much, and which option makes it.
      assert.ok(
        lines.some((l) =>
          /^warn: Running the backfill of daily again \(rerunCompleted, --rerun-completed\): 1 of 5 partitions it completed since it began \S+ run again from the start; without it they are not run again\.$/.test(
            l,
          ),
        ),
        lines.join("\n"),
      );
      const effects = await opened.effects();
      assert.equal(effects.get("2024-01-01:1"), 2, "run again");
      assert.equal(effects.get("2024-01-02:1"), 1, "resumed from its checkpoint");
      assert.equal(effects.get("2024-01-05:1"), 1);
    });

    it("a static shard completed under another split fails SHARD_DRIFT instead of skipping ids", async () => {
      const stop = new AbortController();
      let cut = 20;
      const processor = daily({
        shards: () => [
          { id: 0, to: cut },
          { id: 1, from: cut },
        ],
        async processBatch(batch, ctx) {
          for (const n of batch) await opened.writeEffect(ctx.tx, `${ctx.partition}:${n}`);
          if (ctx.shard?.id === 1 && batch[0] === 21) stop.abort();
        },
      });
      const partitions = DAYS.slice(0, 2);
      const first = await go(processor, { partitions, signal: stop.signal });
      assert.deepEqual(
        first.partitions.map((o) => o.status),
        ["completed", "suspended", "not-started", "not-started"],
      );
      cut = 25; // shard 0 now ends at 25: its completion under the old split covers only 1-20
      const again = await go(processor, { partitions });
      assert.equal(again.status, "failed");
      const drifted = again.partitions.find((o) => o.partition === DAYS[0] && o.shard === "0");
      assert.equal((drifted?.result?.error as { code?: string } | undefined)?.code, "SHARD_DRIFT");
      assert.match(drifted?.result?.error?.message ?? "", /waymark reset daily 2024-01-01/);
      const effects = await opened.effects();
      assert.equal(effects.get(`${DAYS[0]}:21`) ?? 0, 1, "shard 1's committed batch, once");
      assert.ok(
        [...effects.values()].every((n) => n === 1),
        "nothing processed twice",
      );
    });

    it("a backfill without progress for expiryMs begins anew and says so", async () => {
      const stop = new AbortController();
      const processor = daily({
        async processBatch(batch, ctx) {
          for (const n of batch) await opened.writeEffect(ctx.tx, `${ctx.partition}:${n}`);
          if (ctx.partition === "2024-01-02" && batch[0] === 11) stop.abort();
        },
      });
      const start = Date.now();
      const first = await go(processor, { signal: stop.signal, now: () => start });
      assert.equal(first.counts.completed, 1);
      const { logger, lines } = captureLogger();
      const later = start + 25 * 3_600_000;
      const again = await go(processor, { logger, now: () => later });
      assert.equal(again.counts.completed, 5, "every partition runs again, from the start");
      assert.ok(
        lines.some((l) =>
          /^warn: The backfill of daily begun \S+ saw no progress for expiryMs \(86400000 ms\): it begins anew\./.test(
            l,
          ),
        ),
        lines.join("\n"),
      );
    });

    it("waits for a partition another runner holds, and says whose when its time is up", async () => {
      const clock = fakeClock(Date.now());
      const held = await opened.store.acquire({
        processor: "daily",
        partition: "2024-01-02",
        shard: "",
        owner: "someone-else",
        runId: "other-run",
        leaseTtlMs: 60_000,
        now: clock.now(),
      });
      assert.ok(held.acquired);
      const result = await go(daily(), {
        now: clock.now,
        sleep: clock.sleep,
        timeBudgetMs: 10_000,
      });
      assert.equal(result.status, "suspended");
      assert.equal(result.partitions[1]?.status, "busy");
      assert.equal(result.counts.completed, 4);
      assert.deepEqual(result.waiting, [
        { partition: "2024-01-02", owner: "someone-else", expiresAt: clock.start + 60_000 },
      ]);
    });

    it("takes over a partition whose holder died, once its lease expires", async () => {
      const clock = fakeClock(Date.now());
      const held = await opened.store.acquire({
        processor: "daily",
        partition: "2024-01-03",
        shard: "",
        owner: "dead-runner",
        runId: "dead-run",
        leaseTtlMs: 30_000,
        now: clock.now(),
      });
      assert.ok(held.acquired);
      const result = await go(daily(), { now: clock.now, sleep: clock.sleep });
      assert.equal(result.status, "completed");
      assert.equal(result.counts.completed, 5);
      assert.ok(clock.now() >= clock.start + 30_000, "it waited for the lease to expire");
      await assertEffects(DAYS);
    });

    it("a holder that completes while this one waits counts as done: exit 0, nothing redone", async () => {
      const clock = fakeClock(Date.now());
      const other = await opened.store.acquire({
        processor: "daily",
        partition: "2024-01-04",
        shard: "",
        owner: "other-process",
        runId: "other-run",
        leaseTtlMs: 60_000,
        now: clock.now(),
      });
      assert.ok(other.acquired);
      let completedOther = false;
      const result = await go(daily(), {
        now: clock.now,
        sleep: async (ms) => {
          clock.t += ms;
          if (!completedOther && other.acquired) {
            completedOther = true;
            await opened.store.complete(other.lease, clock.t, leaseRun(other.lease, clock.t));
          }
        },
      });
      assert.equal(result.status, "completed");
      const fourth = result.partitions[3];
      assert.deepEqual([fourth?.status, fourth?.completedBy], ["already-completed", "other-run"]);
      assert.equal(result.counts.completed, 4);
    });
  });
}

describe("runPartitions options", () => {
  const processor = defineProcessor<number>({
    name: "daily",
    entities: () => [],
    id: (n) => n,
    processBatch() {},
  });
  const store = { acquire() {} } as unknown as RunPartitionsOptions["store"];
  const cases: Array<[Partial<RunPartitionsOptions>, string, RegExp]> = [
    [{ partitions: [] }, "partitions", /at least one partition/],
    [{ partitions: ["a", "b", "a"] }, "partitions", /each partition once; "a" is repeated/],
    [{ partitions: ["a"], foo: 1 } as never, "foo", /Unknown runPartitions option `foo`/],
    [{ partitions: ["a"], concurrency: 0 }, "concurrency", /from 1 and up.*got 0/],
    [{ partitions: ["a"], concurrency: 1.5 }, "concurrency", /integer/],
    [{ partitions: ["a\u0000"] }, "partitions.0", /control characters/],
    [{ partitions: ["a"], partition: "b" } as never, "partition", /takes `partitions`/],
  ];
  for (const [options, option, message] of cases) {
    it(`refuses ${JSON.stringify(options)}`, async () => {
      await assert.rejects(
        runPartitions(processor, { store, logger: false, ...options } as RunPartitionsOptions),
        (error: unknown) =>
          error instanceof InvalidOptionError &&
          error.option === option &&
          message.test(error.message),
      );
    });
  }
});
