import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  defineProcessor,
  InvalidOptionError,
  MemoryStore,
  type ProcessorDefinition,
  type RunOptions,
  redrive,
  run,
} from "../../../src/index.js";

const valid: ProcessorDefinition<number> = {
  name: "players",
  entities: () => [1],
  id: (n) => n,
  processBatch: () => {},
};

function rejectsProcessor(overrides: Record<string, unknown>, option: string, fix: RegExp) {
  assert.throws(
    () => defineProcessor({ ...valid, ...overrides } as ProcessorDefinition<number>),
    (error: unknown) =>
      error instanceof InvalidOptionError &&
      error.option === option &&
      error.message.includes(`\`${option}\``) &&
      fix.test(error.message),
  );
}

async function rejectsRun(overrides: Record<string, unknown>, option: string, fix: RegExp) {
  await assert.rejects(
    run(defineProcessor(valid), { store: new MemoryStore(), ...overrides } as RunOptions),
    (error: unknown) =>
      error instanceof InvalidOptionError &&
      error.option === option &&
      error.message.includes(`\`${option}\``) &&
      fix.test(error.message),
  );
}

describe("resilience options", () => {
  it("rejects bad processor options, naming the option, the value and the fix", () => {
    rejectsProcessor({ retry: { attempts: -1 } }, "retry.attempts", /from 0 and up.*got -1/);
    rejectsProcessor({ retry: { factor: 0.5 } }, "retry.factor", /from 1 up.*got 0\.5/);
    rejectsProcessor({ retry: { retryable: true } }, "retry.retryable", /\(error\) => boolean/);
    rejectsProcessor({ skip: { limit: 1.5 } }, "skip.limit", /integer from 0.*got 1\.5/);
    rejectsProcessor({ skip: {} }, "skip.limit", /it is missing/);
    rejectsProcessor({ shouldRun: "yes" }, "shouldRun", /lastCompletedAt/);
    rejectsProcessor({ lookup: 1 }, "lookup", /\(ids, \{ partition \}\)/);
    rejectsProcessor({ breaker: { isOpen: "no" } }, "breaker", /isOpen\(\)/);
    rejectsProcessor({ retry: { tries: 3 } }, "retry", /unknown retry option `tries`/);
    rejectsProcessor({ retry: 3 }, "retry", /expected false or \{ attempts/);
  });

  it("rejects bad run options, naming the option, the value and the fix", async () => {
    await rejectsRun({ deadlineMarginMs: -1 }, "deadlineMarginMs", /from 0 up.*got -1/);
    await rejectsRun({ handleSignals: "yes" }, "handleSignals", /true or false/);
    await rejectsRun({ shutdownGraceMs: -5 }, "shutdownGraceMs", /from 0 up/);
    await rejectsRun({ deadline: new Date(Number.NaN) }, "deadline", /expected a Date/);
    await rejectsRun({ sleep: 5 }, "sleep", /\(ms, signal\)/);
    await rejectsRun({ breaker: {} }, "breaker", /circuit breaker/);
  });

  it("fails a run whose shouldRun returns anything but a boolean, and one whose id() is NaN", async () => {
    const store = new MemoryStore();
    const no = await run(defineProcessor({ ...valid, shouldRun: () => "no" as never }), {
      store,
      partition: "p",
      logger: false,
    });
    assert.equal(no.status, "failed");
    assert.ok(no.error instanceof InvalidOptionError);
    assert.equal(no.error.option, "shouldRun");
    assert.match(no.error.message, /returned "no" \(string\); return true to run/);
    const nan = await run(defineProcessor({ ...valid, id: () => Number.NaN }), {
      store,
      partition: "q",
      logger: false,
    });
    assert.equal((nan.error as { code?: string }).code, "INVALID_ENTITY");
    assert.match(nan.error?.message ?? "", /id\(\) returned NaN/);
  });

  it("refuses run's options that mean nothing to redrive", async () => {
    await assert.rejects(
      redrive(defineProcessor({ ...valid, lookup: async () => [] }), {
        store: new MemoryStore(),
        partition: "p",
        timeBudgetMs: 5000,
      } as never),
      (error: unknown) =>
        error instanceof InvalidOptionError &&
        error.option === "timeBudgetMs" &&
        /Unknown redrive option `timeBudgetMs`: it takes `store`/.test(error.message),
    );
  });
});
