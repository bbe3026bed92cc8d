import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { QuotaStore } from "../../../src/core/store/quota-store.js";
import {
  defineProcessor,
  MemoryStore,
  type ProcessorDefinition,
  RateLimitedError,
  type RunOptions,
  run,
  runPartitions,
} from "../../../src/index.js";
import { mostInWindow, virtualTime } from "../../support/virtual-time.js";

type Call = { readonly at: number; readonly partition: string; readonly id: number };

/**
 * A processor of `total` entities whose batches "call an API" once per entity, recording when
 * (by the virtual clock), after `workMs` of virtual work.
 */
function apiProcessor(
  clock: ReturnType<typeof virtualTime>,
  calls: Call[],
  options: Partial<ProcessorDefinition<number>> & { total?: number; workMs?: number } = {},
) {
  const { total = 100, workMs = 0, ...definition } = options;
  return defineProcessor<number>({
    name: "player-game-summary",
    batchSize: 5,
    retry: false,
    quota: { key: "nba-api", limit: 50, per: "1s", burst: 5 },
    entities: ({ after }) =>
      Array.from({ length: total }, (_, i) => i + 1).filter((n) => after === null || n > after),
    id: (n) => n,
    async processBatch(batch, ctx) {
      if (workMs > 0) await clock.sleep(workMs);
      for (const id of batch) calls.push({ at: clock.now(), partition: ctx.partition, id });
    },
    ...definition,
  });
}

/** Runs `processor` on `clock`, on a store of its own unless one is given. */
function runOn<E>(
  clock: ReturnType<typeof virtualTime>,
  processor: Parameters<typeof run<E, undefined, unknown>>[0],
  options: Partial<RunOptions> = {},
) {
  return run(processor, {
    store: new MemoryStore(),
    logger: false,
    now: clock.now,
    sleep: clock.sleep,
    ...options,
  });
}

/** Counts the store's quota round trips. */
function countTakes(store: MemoryStore): { takes: number } {
  const counted = { takes: 0 };
  const quotas = store.quotas as QuotaStore;
  const take = quotas.take.bind(quotas);
  quotas.take = (request) => {
    counted.takes++;
    return take(request);
  };
  return counted;
}

describe("quotas: a run takes its batches' tokens in turn", () => {
  it("paces one run at the limit, beyond the burst in no window of `per`", async () => {
    const clock = virtualTime();
    const calls: Call[] = [];
    const store = new MemoryStore();
    const t0 = clock.now();
    const result = await runOn(clock, apiProcessor(clock, calls, { total: 200 }), { store });
    assert.equal(result.status, "completed");
    assert.equal(calls.length, 200);
    assert.ok(
      mostInWindow(
        calls.map((c) => c.at),
        1000,
      ) <=
        50 + 5,
    );
    // 200 tokens at 50 a second, the first batch at once: about 3.9 s, not less.
    const elapsed = (calls.at(-1)?.at ?? 0) - t0;
    assert.ok(elapsed >= 3800 && elapsed <= 4000, `took ${elapsed} ms`);
  });

  it("shares one budget between runs of one key: four at once deliver the limit together", async () => {
    const clock = virtualTime();
    const calls: Call[] = [];
    const store = new MemoryStore();
    const counted = countTakes(store);
    const result = await runPartitions(apiProcessor(clock, calls, { total: 100, workMs: 20 }), {
      store,
      partitions: ["a", "b", "c", "d"],
      concurrency: 4,
      logger: false,
      now: clock.now,
      sleep: clock.sleep,
    });
    assert.equal(result.status, "completed");
    assert.equal(calls.length, 400);
    const times = calls.map((c) => c.at);
    assert.ok(mostInWindow(times, 1000) <= 55, `${mostInWindow(times, 1000)} in one second`);
    // Together at the limit to the end: no run reserves turns for batches it does not have.
    const elapsed = Math.max(...times) - Math.min(...times);
    assert.ok(elapsed >= 7800 && elapsed <= 8000, `400 calls at 50/s took ${elapsed} ms`);
    // A lease holds several batches: fewer round trips than batches (80).
    assert.ok(counted.takes <= 40, `${counted.takes} round trips to the store for 80 batches`);
  });

  it("keeps the pace when timers wake it a little late, with a burst of one batch", async () => {
    const clock = virtualTime(1_700_000_000_000, 3);
    const calls: Call[] = [];
    const t0 = clock.now();
    // A budget ends the run that passes every turn over, late each time, for ever.
    const processor = apiProcessor(clock, calls, { total: 200 });
    const result = await runOn(clock, processor, { timeBudgetMs: 20_000 });
    assert.equal(result.status, "completed");
    // 200 calls at 50 a second, each wait 3 ms long: turns that late are still spent.
    const elapsed = (calls.at(-1)?.at ?? 0) - t0;
    assert.ok(elapsed <= 4100, `took ${elapsed} ms`);
  });

  it("keeps to the turns of a store with its own clock, whatever answers come back slow", async () => {
    const clock = virtualTime();
    const calls: Call[] = [];
    const store = new MemoryStore();
    // The store's clock is 5 s ahead of the runs', and every third answer takes 300 ms.
    const quotas = store.quotas as QuotaStore;
    const take = quotas.take.bind(quotas);
    const AHEAD = 5000;
    let answers = 0;
    quotas.take = async (request) => {
      const grant = await take({ ...request, now: request.now + AHEAD });
      if (++answers % 3 === 0) await clock.sleep(300);
      return grant;
    };
    const pauses = quotas.pauses.bind(quotas);
    quotas.pauses = (keys, now) => pauses(keys, now + AHEAD);
    const processor = apiProcessor(clock, calls, { total: 60, workMs: 5 });
    const result = await runAll(clock, processor, ["a", "b", "c", "d"], store);
    assert.equal(result.status, "completed");
    // A lease read as late as its answer was slow would be spent in a crowd with later turns.
    const most = mostInWindow(
      calls.map((c) => c.at),
      1000,
    );
    assert.ok(most <= 50 + 7, `${most} calls in a second`);
  });

  it("gives back what it did not use when it stops, so the next run goes at once", async () => {
    const clock = virtualTime();
    const calls: Call[] = [];
    const store = new MemoryStore();
    const processor = apiProcessor(clock, calls, { total: 12 });
    const t0 = clock.now();
    await runOn(clock, processor, { store });
    const [row] = await (store.quotas as QuotaStore).list();
    assert.equal(row?.taken, 12, "the leases' unused tokens were given back");
    // The schedule ends after the 12 turns used, 20 ms apart: the next run is not held back.
    assert.equal(row?.tat, t0 + 12 * 20);
  });

  it("takes the run's quota option instead of the processor's", async () => {
    const clock = virtualTime();
    const store = new MemoryStore();
    const processor = apiProcessor(clock, [], { total: 20 });
    const quota = { key: "run-api", limit: 10, per: "1s", cost: () => 1 };
    const t0 = clock.now();
    const result = await runOn(clock, processor, { store, quota });
    assert.equal(result.status, "completed");
    const rows = await (store.quotas as QuotaStore).list();
    assert.deepEqual(
      rows.map((r) => [r.key, r.limit, r.taken]),
      [["run-api", 10, 4]],
    );
    // Four batches, one token each, ten a second: not the processor's 50 a second.
    assert.ok(clock.now() - t0 >= 200, `${clock.now() - t0} ms`);
  });

  it("lets processBatch take per call with ctx.quota(key).take(), a batch costing 0", async () => {
    const clock = virtualTime();
    const calls: number[] = [];
    const store = new MemoryStore();
    const processor = defineProcessor<number>({
      name: "per-call",
      batchSize: 50,
      quota: { key: "nba-api", limit: 10, per: "1s", burst: 1, cost: 0 },
      entities: () => Array.from({ length: 30 }, (_, i) => i + 1),
      id: (n) => n,
      async processBatch(batch, ctx) {
        for (const _ of batch) {
          await ctx.quota("nba-api").take();
          calls.push(clock.now());
        }
      },
    });
    const t0 = clock.now();
    const result = await run(processor, {
      store,
      logger: false,
      now: clock.now,
      sleep: clock.sleep,
    });
    assert.equal(result.status, "completed");
    assert.ok(mostInWindow(calls, 1000) <= 11, `${mostInWindow(calls, 1000)} calls in a second`);
    assert.ok((calls.at(-1) ?? 0) - t0 >= 2800);
  });
});

/**
 * An API processor (no retries at all: a pause is not one) whose batch of `partition` starting
 * at entity `first` gets one 429 asking for `retryAfterMs`; `paused.at` says when.
 */
function pausedOnce(
  clock: ReturnType<typeof virtualTime>,
  calls: Call[],
  at: { partition: string; first: number; retryAfterMs: number; total: number },
) {
  const paused = { at: Number.NaN };
  const processor = apiProcessor(clock, calls, {
    total: at.total,
    retry: false,
    async processBatch(batch, ctx) {
      await clock.sleep(10);
      if (ctx.partition === at.partition && batch[0] === at.first && Number.isNaN(paused.at)) {
        paused.at = clock.now();
        throw new RateLimitedError({ retryAfterMs: at.retryAfterMs });
      }
      for (const id of batch) calls.push({ at: clock.now(), partition: ctx.partition, id });
    },
  });
  return { processor, paused };
}

/** Runs `partitions` at once on `clock`. */
function runAll(
  clock: ReturnType<typeof virtualTime>,
  processor: ReturnType<typeof apiProcessor>,
  partitions: string[],
  store = new MemoryStore(),
) {
  return runPartitions(processor, {
    store,
    partitions,
    concurrency: partitions.length,
    logger: false,
    now: clock.now,
    sleep: clock.sleep,
  });
}

describe("quotas: a 429 pauses every runner of the key", () => {
  it("pauses the runs sharing the key, then tries the batch again without using an attempt", async () => {
    const clock = virtualTime();
    const calls: Call[] = [];
    const store = new MemoryStore();
    const at = { partition: "b", first: 26, retryAfterMs: 3000, total: 60 };
    const { processor, paused } = pausedOnce(clock, calls, at);
    const result = await runAll(clock, processor, ["a", "b"], store);
    assert.equal(result.status, "completed");
    const start = paused.at;
    // A batch of the other run already past its wait may land within its own work time.
    const during = calls.filter((c) => c.at > start + 10 && c.at < start + 3000);
    assert.deepEqual(during, [], "no call while the key is paused");
    assert.equal(calls.filter((c) => c.partition === "b").length, 60, "b's batch was tried again");
    const [row] = await (store.quotas as QuotaStore).list();
    assert.equal(row?.pauses, 1);
  });

  it("after a pause, the runs go on at the limit with the turns their leases still hold", async () => {
    const clock = virtualTime();
    const calls: Call[] = [];
    const at = { partition: "a", first: 21, retryAfterMs: 1000, total: 100 };
    const { processor, paused } = pausedOnce(clock, calls, at);
    const result = await runAll(clock, processor, ["a", "b", "c", "d"]);
    assert.equal(result.status, "completed");
    const resumed = paused.at + 1000;
    const next2s = calls.filter((c) => c.at >= resumed && c.at < resumed + 2000).length;
    // Turns reserved before the pause that fall after it are not thrown away with the lease.
    assert.ok(next2s >= 95, `${next2s} calls in the 2 s after the pause, of 100`);
  });

  it("suspends the run (rate-limited) when the pause outlasts its time budget, even at the first batch", async () => {
    const clock = virtualTime();
    const calls: Call[] = [];
    const processor = apiProcessor(clock, calls, {
      processBatch() {
        throw new RateLimitedError({ retryAfterMs: 60_000 });
      },
    });
    const result = await runOn(clock, processor, { timeBudgetMs: 30_000 });
    assert.equal(result.status, "suspended");
    assert.equal(result.reason, "rate-limited");
    assert.equal(result.error, undefined, "a pause is not a failure");
  });

  it("suspends rather than wait for tokens past the deadline", async () => {
    const clock = virtualTime();
    const calls: Call[] = [];
    const processor = apiProcessor(clock, calls, {
      total: 100,
      quota: { key: "slow-api", limit: 1, per: "1s", burst: 5 },
    });
    const result = await runOn(clock, processor, { timeBudgetMs: 20_000 });
    assert.equal(result.status, "suspended");
    assert.equal(result.reason, "rate-limited");
    // One token a second for 20 s, less the margin: 15 to 19 entities, never more.
    assert.ok(result.processed >= 15 && result.processed <= 20, `${result.processed} processed`);
  });

  it("waits out a 429 on its own, without an attempt, when the processor declares no quota", async () => {
    const clock = virtualTime();
    let throws = 1;
    const processor = defineProcessor<number>({
      name: "no-quota",
      retry: false,
      entities: () => [1, 2, 3],
      id: (n) => n,
      processBatch() {
        if (throws-- > 0) throw new RateLimitedError({ retryAfterMs: 5000 });
      },
    });
    const t0 = clock.now();
    const result = await runOn(clock, processor);
    assert.equal(result.status, "completed");
    assert.equal(clock.now() - t0, 5000);
  });

  it("an adaptive key slows down after 429s and never goes above its limit", async () => {
    const clock = virtualTime();
    const calls: Call[] = [];
    let answered = 0;
    const processor = apiProcessor(clock, calls, {
      total: 200,
      quota: { key: "nba-api", limit: 50, per: "1s", burst: 5, adaptive: true },
      async processBatch(batch, ctx) {
        // The API's own limit is 20 a second: it answers 429 to every fifth batch early on.
        if (++answered % 5 === 0 && answered < 20) {
          throw new RateLimitedError({ retryAfterMs: 1000 });
        }
        for (const id of batch) calls.push({ at: clock.now(), partition: ctx.partition, id });
      },
    });
    const result = await runOn(clock, processor);
    assert.equal(result.status, "completed");
    const lastSecond = calls.filter((c) => c.at > (calls.at(-1)?.at ?? 0) - 1000).length;
    assert.ok(lastSecond <= 15, `after three 429s the rate is 50/8, saw ${lastSecond} in a second`);
  });
});

describe("quotas: bad input is refused up front, naming the option", () => {
  const base = {
    name: "bad-quota",
    entities: () => [1],
    id: (n: number) => n,
    processBatch() {},
  };
  for (const [quota, option, says] of [
    [{ key: "api", limit: 0, per: "1s" }, "quota.limit", /above 0/],
    [{ key: "api", limit: Number.NaN, per: "1s" }, "quota.limit", /NaN/],
    [{ key: "api", limit: 10, per: "1 fortnight" }, "quota.per", /"1s", "1m" or "1h"/],
    [{ key: "api", limit: 10, per: "1s", cost: -1 }, "quota.cost", /from 0 up/],
    [{ key: "k".repeat(129), limit: 10, per: "1s" }, "quota.key", /too long/],
    [{ key: "api", limit: 10, per: "1s", burst: -2 }, "quota.burst", /from 0 up/],
  ] as const) {
    it(`${option}: ${JSON.stringify(quota).slice(0, 60)}`, () => {
      assert.throws(
        () => defineProcessor<number>({ ...base, quota: quota as never }),
        (error: Error & { option?: string }) => {
          assert.equal(error.name, "InvalidOptionError");
          assert.equal(error.option, option);
          assert.match(error.message, says);
          return true;
        },
      );
    });
  }

  it("refuses a cost() that returns a negative number before any token is taken", async () => {
    const store = new MemoryStore();
    const processor = defineProcessor<number>({
      ...base,
      quota: { key: "api", limit: 10, per: "1s", cost: () => -1 },
    });
    const result = await run(processor, { store, logger: false });
    assert.equal(result.status, "failed");
    assert.equal((result.error as Error & { option?: string }).option, "quota.cost");
    assert.deepEqual(await (store.quotas as QuotaStore).list(), []);
  });

  it("refuses ctx.quota() of a key the processor does not declare", async () => {
    const processor = defineProcessor<number>({
      ...base,
      async processBatch(_, ctx) {
        await ctx.quota("undeclared").take();
      },
    });
    const result = await run(processor, { store: new MemoryStore(), logger: false });
    assert.match(result.error?.message ?? "", /no quota "undeclared".*Add \{ key: "undeclared"/);
  });

  it("refuses a RateLimitedError without a usable retryAfterMs", () => {
    assert.throws(
      () => new RateLimitedError({ retryAfterMs: Number.NaN }),
      /retryAfterMs in milliseconds from 0 up, got NaN/,
    );
  });
});

describe("RateLimitedError.fromResponse reads Retry-After", () => {
  const response = (header: string | null) => ({
    status: 429,
    headers: { get: (name: string) => (name === "retry-after" ? header : null) },
  });
  it("in seconds, as an HTTP date, or falls back when it is missing", () => {
    assert.equal(RateLimitedError.fromResponse(response("2")).retryAfterMs, 2000);
    assert.equal(RateLimitedError.fromResponse(response("0.5")).retryAfterMs, 500);
    const at = new Date(Date.now() + 10_000).toUTCString();
    const dated = RateLimitedError.fromResponse(response(at)).retryAfterMs;
    assert.ok(dated > 8000 && dated <= 10_000, `${dated}`);
    assert.equal(RateLimitedError.fromResponse(response(null)).retryAfterMs, 1000);
    assert.equal(
      RateLimitedError.fromResponse(response("soon"), { fallbackMs: 7 }).retryAfterMs,
      7,
    );
    const error = RateLimitedError.fromResponse(response("3"), { key: "nba-api" });
    assert.equal(error.key, "nba-api");
    assert.equal(error.code, "RATE_LIMITED");
    assert.match(error.message, /HTTP 429 \(Retry-After: 3\)/);
  });
});
