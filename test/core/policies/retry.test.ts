import assert from "node:assert/strict";
import { describe, it, mock } from "node:test";
import { DEFAULT_RETRY, resolveRetry, retryDelay } from "../../../src/core/policies/retry.js";
import { defineProcessor, InvalidOptionError, MemoryStore, run } from "../../../src/index.js";
import { captureLogger } from "../../support/logger.js";

const IDS = Array.from({ length: 100 }, (_, i) => i + 1);

/** A processor over 100 ids that throws `error` on the batch starting at 51, `failures` times. */
function flaky(failures: number, error: Error, retry?: Parameters<typeof resolveRetry>[0]) {
  const calls: number[] = [];
  let left = failures;
  const processor = defineProcessor<number, { sum: number }>({
    name: "flaky",
    ...(retry === undefined ? {} : { retry }),
    entities: () => IDS,
    id: (n) => n,
    initialState: () => ({ sum: 0 }),
    processBatch: async (batch, ctx) => {
      calls.push(batch[0] as number);
      for (const n of batch) ctx.state.sum += n;
      if (batch[0] === 51 && left > 0) {
        left--;
        throw error;
      }
    },
  });
  return { processor, calls };
}

describe("retry policy", () => {
  it("doubles from 10 s by default: 10 s, 20 s, 40 s, capped at maxDelayMs", () => {
    const exact = resolveRetry({ jitter: 0 });
    assert.deepEqual(
      [1, 2, 3].map((r) => retryDelay(exact, r)),
      [10_000, 20_000, 40_000],
    );
    assert.equal(DEFAULT_RETRY.attempts, 3);
    const capped = resolveRetry({ jitter: 0, initialDelayMs: 1000, factor: 3, maxDelayMs: 5000 });
    assert.deepEqual(
      [1, 2, 3, 4].map((r) => retryDelay(capped, r)),
      [1000, 3000, 5000, 5000],
    );
  });

  it("keeps jittered delays within ±jitter of the base, and spreads them", () => {
    const policy = resolveRetry({ jitter: 0.25 });
    assert.equal(
      retryDelay(policy, 2, () => 0),
      15_000,
    );
    assert.equal(
      retryDelay(policy, 2, () => 0.999_999),
      25_000,
    );
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const delay = retryDelay(policy, 2);
      assert.ok(delay >= 15_000 && delay <= 25_000, `delay ${delay} out of bounds`);
      seen.add(Math.min(9, Math.floor((delay - 15_000) / 1000)));
    }
    assert.equal(seen.size, 10, "every tenth of the range is hit");
  });

  it("retries a transient error with the scheduled delays, logging each, then succeeds", async () => {
    const { processor, calls } = flaky(2, new Error("503 Service Unavailable"), { jitter: 0 });
    const slept: number[] = [];
    const { logger, lines } = captureLogger();
    const result = await run(processor, {
      store: new MemoryStore(),
      logger,
      sleep: async (ms) => void slept.push(ms),
    });
    assert.equal(result.status, "completed");
    assert.deepEqual(slept, [10_000, 20_000]);
    assert.deepEqual(calls, [1, 51, 51, 51]);
    assert.ok(
      lines.includes(
        "warn: Batch 2 of flaky/default failed (attempt 1 of 4): 503 Service Unavailable. Retrying in 10000 ms.",
      ),
      lines.join("\n"),
    );
    assert.ok(lines.some((l) => /attempt 2 of 4\).*Retrying in 20000 ms/.test(l)));
  });

  it("fails at once on a permanent error, without sleeping", async () => {
    const permanent = Object.assign(new Error("400 Bad Request"), { status: 400 });
    const { processor, calls } = flaky(5, permanent, {
      retryable: (e) => (e as { status?: number }).status !== 400,
    });
    const slept: number[] = [];
    const store = new MemoryStore();
    const result = await run(processor, {
      store,
      logger: false,
      sleep: async (ms) => void slept.push(ms),
    });
    assert.equal(result.status, "failed");
    assert.deepEqual(calls, [1, 51]);
    assert.deepEqual(slept, []);
  });

  it("fails the run after the last attempt with the checkpoint and state intact", async () => {
    const { processor, calls } = flaky(10, new Error("quota"), { attempts: 2, jitter: 0 });
    const store = new MemoryStore();
    const slept: number[] = [];
    const result = await run(processor, {
      store,
      logger: false,
      sleep: async (ms) => void slept.push(ms),
    });
    assert.equal(result.status, "failed");
    assert.match(result.error?.message ?? "", /quota/);
    assert.deepEqual(calls, [1, 51, 51, 51]);
    assert.deepEqual(slept, [10_000, 20_000]);
    const saved = await store.getCheckpoint({
      processor: "flaky",
      partition: "default",
      shard: "",
    });
    assert.equal(saved?.cursor, 50);
    assert.deepEqual(JSON.parse(saved?.state ?? "null"), { sum: 1275 });
    assert.equal(saved?.leaseOwner, null);
  });

  it("waits with real timers by default: nothing is retried before 10 s (fake timers)", async () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      const { processor, calls } = flaky(1, new Error("flaky"), { jitter: 0 });
      let settled = false;
      const pending = run(processor, { store: new MemoryStore(), logger: false }).finally(() => {
        settled = true;
      });
      const deadline = Date.now() + 5000;
      while (calls.length < 2 && Date.now() < deadline) await new Promise(setImmediate);
      assert.deepEqual(calls, [1, 51]);
      mock.timers.tick(9_999);
      for (let i = 0; i < 20; i++) await new Promise(setImmediate);
      assert.deepEqual(calls, [1, 51], "no retry before the delay");
      mock.timers.tick(1);
      while (!settled && Date.now() < deadline) await new Promise(setImmediate);
      assert.equal((await pending).status, "completed");
      assert.deepEqual(calls, [1, 51, 51]);
    } finally {
      mock.timers.reset();
    }
  });

  it("rejects a bad retry option with a message naming it", () => {
    const base = { name: "x", entities: () => [], id: (n: number) => n, processBatch() {} };
    assert.throws(
      () => defineProcessor({ ...base, retry: { jitter: 2 } }),
      (e: unknown) =>
        e instanceof InvalidOptionError &&
        e.option === "retry.jitter" &&
        /expected a fraction from 0 to 1.*got 2 \(number\)/.test(e.message),
    );
    assert.throws(() => defineProcessor({ ...base, retry: true as never }), InvalidOptionError);
    assert.doesNotThrow(() => defineProcessor({ ...base, retry: false }));
  });
});
