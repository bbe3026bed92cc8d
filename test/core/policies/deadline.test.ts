import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DeadlinePlanner } from "../../../src/core/policies/deadline.js";
import {
  cloudRunDeadline,
  defineProcessor,
  InvalidOptionError,
  lambdaDeadline,
  MemoryStore,
  type MemoryTx,
  run,
} from "../../../src/index.js";
import { seeded } from "../../support/random.js";

const ENTITIES = 600;

describe("deadline", () => {
  it("never overruns its budget over 200 seeded trials, and resumes losing nothing", async () => {
    let suspensions = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const random = seeded(seed);
      // Simulated time: each entity takes perEntity ms ± 30%, per batch.
      const perEntity = 2 + random() * 40;
      const batchSize = 5 + Math.floor(random() * 30);
      const budget = Math.round(perEntity * batchSize * (3 + random() * 20));
      let now = 1_700_000_000_000;
      const written = new Map<number, number>();
      const processor = defineProcessor<number, undefined, MemoryTx>({
        name: "timed",
        batchSize,
        retry: false,
        entities: () => Array.from({ length: ENTITIES }, (_, i) => i + 1),
        id: (n) => n,
        processBatch: (batch, ctx) => {
          now += batch.length * perEntity * (0.7 + 0.6 * random());
          for (const n of batch) ctx.tx.run(() => written.set(n, (written.get(n) ?? 0) + 1));
        },
      });
      const store = new MemoryStore();
      let runs = 0;
      for (;;) {
        runs++;
        assert.ok(runs < 1000, `seed ${seed}: no progress`);
        const start = now;
        const result = await run(processor, {
          store,
          logger: false,
          now: () => now,
          timeBudgetMs: budget,
          deadlineMarginMs: 0,
        });
        assert.ok(
          now <= start + budget,
          `seed ${seed} run ${runs}: overran by ${now - start - budget} ms`,
        );
        if (result.status === "completed") break;
        assert.equal(result.status, "suspended", `seed ${seed}: ${result.error?.message}`);
        assert.equal(result.reason, "deadline");
        suspensions++;
        now += 1; // the queue re-invokes a moment later
      }
      assert.equal(written.size, ENTITIES, `seed ${seed}: every entity done`);
      for (const [n, times] of written) assert.equal(times, 1, `seed ${seed}: entity ${n} once`);
    }
    assert.ok(suspensions > 600, `only ${suspensions} suspensions: budgets too generous`);
  });

  it("aborts ctx.signal at the hard deadline and does not commit that batch", async () => {
    const store = new MemoryStore();
    const committed: number[] = [];
    let sawAbort = false;
    const processor = defineProcessor<number, undefined, MemoryTx>({
      name: "hang",
      batchSize: 10,
      retry: false,
      entities: () => Array.from({ length: 30 }, (_, i) => i + 1),
      id: (n) => n,
      processBatch: async (batch, ctx) => {
        for (const n of batch) ctx.tx.run(() => committed.push(n));
        if (batch[0] === 11) {
          // Stuck downstream: only the deadline gets us out.
          await new Promise<void>((resolve) =>
            ctx.signal.addEventListener("abort", () => resolve(), { once: true }),
          );
          sawAbort = ctx.signal.aborted;
        }
      },
    });
    const result = await run(processor, {
      store,
      logger: false,
      timeBudgetMs: 150,
      deadlineMarginMs: 0,
    });
    assert.equal(result.status, "suspended");
    assert.equal(result.reason, "deadline");
    assert.ok(sawAbort);
    assert.equal(committed.length, 10, "the aborted batch wrote nothing");
    const saved = await store.getCheckpoint({ processor: "hang", partition: "default", shard: "" });
    assert.equal(saved?.cursor, 10);
    assert.equal(saved?.leaseOwner, null);
  });

  it("estimates from mean + k·stddev and the slowest batch seen", () => {
    const planner = new DeadlinePlanner(10_000, 500);
    assert.equal(planner.estimate(10), 0);
    for (const ms of [100, 120, 80, 100]) planner.record(10, ms);
    const estimate = planner.estimate(10);
    assert.ok(estimate > 120 && estimate < 250, `estimate ${estimate}`);
    assert.equal(planner.wouldOverrun(9_500 - estimate - 1, 10), false);
    assert.equal(planner.wouldOverrun(9_500 - estimate + 1, 10), true);
  });

  it("computes Cloud Run and Lambda deadlines", () => {
    assert.equal(cloudRunDeadline(3600, 1000), 3_601_000);
    assert.throws(() => cloudRunDeadline(0), RangeError);
    assert.equal(lambdaDeadline({ getRemainingTimeInMillis: () => 899_000 }, 1000), 900_000);
    assert.throws(() => lambdaDeadline({} as never), TypeError);
  });

  it("validates the deadline options", async () => {
    const processor = defineProcessor({
      name: "x",
      entities: () => [],
      id: (n: number) => n,
      processBatch() {},
    });
    await assert.rejects(
      run(processor, { store: new MemoryStore(), deadline: "tomorrow" as never }),
      (e: unknown) => e instanceof InvalidOptionError && e.option === "deadline",
    );
    await assert.rejects(
      run(processor, { store: new MemoryStore(), timeBudgetMs: -5 }),
      /Invalid run option `timeBudgetMs`: expected milliseconds above 0.*got -5/,
    );
  });
});

describe("deadline and retries", () => {
  /**
   * Runs 50 entities in batches of 10 on a fake clock: each batch takes 100 ms, `fails` says
   * which batches throw (by their first entity), and retries wait 10 s, then 20 s.
   */
  async function runLate(
    name: string,
    fails: (first: number) => string | null,
    budget: {
      timeBudgetMs: number;
      deadlineMarginMs: number;
    },
  ) {
    let now = 1_700_000_000_000;
    const slept: number[] = [];
    let calls = 0;
    const processor = defineProcessor<number>({
      name,
      batchSize: 10,
      retry: { attempts: 3, jitter: 0 },
      entities: () => Array.from({ length: 50 }, (_, i) => i + 1),
      id: (n) => n,
      processBatch: (batch) => {
        calls++;
        now += 100;
        const error = fails(batch[0] as number);
        if (error) throw new Error(error);
      },
    });
    const store = new MemoryStore();
    const result = await run(processor, {
      store,
      logger: false,
      now: () => now,
      sleep: async (ms) => {
        slept.push(ms);
        now += ms;
      },
      ...budget,
    });
    return { result, store, slept, calls };
  }

  it("fails, not suspends, when the first batch fails with no time left to retry it", async () => {
    // Every invocation would fail the same batch once and suspend: exit 75 for ever, with
    // the error nowhere. Failing with it lets the platform's retry count and a person see it.
    const { result, store } = await runLate("always-fails", () => "boom", {
      timeBudgetMs: 5_000,
      deadlineMarginMs: 1_000,
    });
    assert.equal(result.status, "failed");
    assert.equal(result.error?.message, "boom");
    const [history] = await store.listRuns({ processor: "always-fails" });
    assert.equal(history?.status, "failed");
    assert.match(history?.error ?? "", /boom/);
  });

  it("suspends instead of waiting for a retry that cannot finish in time", async () => {
    const { result, store, slept, calls } = await runLate(
      "late-retry",
      (first) => (first === 21 ? "503" : null),
      { timeBudgetMs: 15_000, deadlineMarginMs: 0 },
    );
    assert.equal(result.status, "suspended");
    assert.equal(result.reason, "deadline");
    assert.equal(result.error?.message, "503", "the error the retry could not follow is kept");
    assert.deepEqual(slept, [10_000], "waited for the first retry, not the 20 s second one");
    assert.equal(calls, 4);
    assert.equal(
      (await store.getCheckpoint({ processor: "late-retry", partition: "default", shard: "" }))
        ?.cursor,
      20,
    );
  });
});
