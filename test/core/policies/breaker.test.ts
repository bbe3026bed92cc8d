import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConsecutiveBreaker, circuitBreaker, handleAll } from "cockatiel";
import CircuitBreaker from "opossum";
import {
  defineProcessor,
  InvalidOptionError,
  MemoryStore,
  type ProcessorDefinition,
  run,
} from "../../../src/index.js";

const IDS = Array.from({ length: 100 }, (_, i) => i + 1);

function counting(overrides: Partial<ProcessorDefinition<number>> = {}) {
  const calls: number[] = [];
  const processor = defineProcessor<number>({
    name: "downstream",
    batchSize: 10,
    entities: () => IDS,
    id: (n) => n,
    processBatch: (batch) => void calls.push(batch[0] as number),
    ...overrides,
  });
  return { processor, calls };
}

const noWait = async () => {};

describe("circuit breaker", () => {
  it("suspends without calling processBatch while an isOpen() breaker is open", async () => {
    const breaker = {
      open: true,
      isOpen() {
        return this.open;
      },
    };
    const { processor, calls } = counting({ breaker });
    const store = new MemoryStore();
    const result = await run(processor, { store, logger: false });
    assert.equal(result.status, "suspended");
    assert.equal(result.reason, "circuit-open");
    assert.deepEqual(calls, []);
    assert.equal((await store.listRuns())[0]?.reason, "circuit-open");
    breaker.open = false;
    const closed = await run(processor, { store, logger: false });
    assert.equal(closed.status, "completed");
    assert.equal(calls.length, 10);
  });

  it("reports batch outcomes and suspends instead of burning retries once it opens", async () => {
    const reported: string[] = [];
    const breaker = {
      failures: 0,
      isOpen() {
        return this.failures >= 2;
      },
      recordFailure(error: Error) {
        this.failures++;
        reported.push(`failure: ${error.message}`);
      },
      recordSuccess() {
        reported.push("success");
      },
    };
    let down = false;
    const { processor, calls } = counting({
      retry: { attempts: 5 },
      processBatch: (batch) => {
        calls.push(batch[0] as number);
        if (batch[0] === 31) down = true;
        if (down) throw new Error("ECONNREFUSED");
      },
    });
    const store = new MemoryStore();
    const result = await run(processor, { store, logger: false, breaker, sleep: noWait });
    assert.equal(result.status, "suspended");
    assert.equal(result.reason, "circuit-open");
    assert.deepEqual(calls, [1, 11, 21, 31, 31], "two attempts, not six");
    assert.deepEqual(reported, [
      "success",
      "success",
      "success",
      "failure: ECONNREFUSED",
      "failure: ECONNREFUSED",
    ]);
    const saved = await store.getCheckpoint({
      processor: "downstream",
      partition: "default",
      shard: "",
    });
    assert.equal(saved?.cursor, 30);
  });

  it("reads an opossum breaker's state", async () => {
    const breaker = new CircuitBreaker(async () => "ok");
    breaker.open();
    const { processor, calls } = counting();
    const store = new MemoryStore();
    const suspended = await run(processor, { store, logger: false, breaker });
    assert.equal(suspended.reason, "circuit-open");
    assert.deepEqual(calls, []);
    breaker.close();
    assert.equal((await run(processor, { store, logger: false, breaker })).status, "completed");
    breaker.shutdown();
  });

  it("runs batches through a cockatiel breaker, which opens on consecutive failures", async () => {
    const breaker = circuitBreaker(handleAll, {
      halfOpenAfter: 60_000,
      breaker: new ConsecutiveBreaker(3),
    });
    const { processor, calls } = counting({
      retry: { attempts: 10 },
      processBatch: (batch) => {
        calls.push(batch[0] as number);
        if (batch[0] === 21) throw new Error("503");
      },
    });
    const result = await run(processor, {
      store: new MemoryStore(),
      logger: false,
      breaker,
      sleep: noWait,
    });
    assert.equal(result.status, "suspended");
    assert.equal(result.reason, "circuit-open");
    assert.deepEqual(calls, [1, 11, 21, 21, 21]);
  });

  it("stops a bisection when the breaker opens, committing only what succeeded", async () => {
    const breaker = {
      failures: 0,
      isOpen() {
        return this.failures >= 3;
      },
      recordFailure() {
        this.failures++;
      },
    };
    const { processor, calls } = counting({
      retry: false,
      skip: { limit: 100 },
      processBatch: (batch) => {
        calls.push(batch[0] as number);
        if ((batch.at(-1) as number) >= 24) throw new Error("downstream is down");
      },
    });
    const store = new MemoryStore();
    const result = await run(processor, { store, logger: false, breaker });
    assert.equal(result.status, "suspended");
    assert.equal(result.reason, "circuit-open");
    assert.equal(result.skipped, 0, "nothing was skipped for an outage");
    assert.deepEqual(await store.listFailures(), []);
    const saved = await store.getCheckpoint({
      processor: "downstream",
      partition: "default",
      shard: "",
    });
    assert.equal(saved?.cursor, 23, "the parts before the outage committed");
  });

  it("rejects something that is not a breaker", () => {
    assert.throws(
      () => counting({ breaker: { state: "open" } }),
      (e: unknown) => e instanceof InvalidOptionError && e.option === "breaker",
    );
  });
});

describe("shouldRun", () => {
  it("skips a run it declines, records it, and sees the last completion", async () => {
    const seen: Array<number | null> = [];
    let wanted = true;
    let now = 1_700_000_000_000;
    const { processor, calls } = counting({
      shouldRun: ({ lastCompletedAt }) => {
        seen.push(lastCompletedAt);
        return wanted;
      },
    });
    const store = new MemoryStore();
    assert.equal(
      (await run(processor, { store, logger: false, now: () => now })).status,
      "completed",
    );
    now += 1000;
    wanted = false;
    const skipped = await run(processor, { store, logger: false, now: () => now });
    assert.equal(skipped.status, "skipped");
    assert.equal(calls.length, 10, "the skipped run processed nothing");
    assert.deepEqual(seen, [null, 1_700_000_000_000]);
    assert.deepEqual(
      (await store.listRuns()).map((r) => r.status),
      ["skipped", "completed"],
    );
  });
});
