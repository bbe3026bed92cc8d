// batchTimeoutMs: a processBatch that hangs while something keeps the process alive (a timer,
// as a socket that never answers would) is aborted through ctx.signal after the timeout and
// counts as a failed attempt, on every store; nothing it wrote through ctx.tx lands.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defineProcessor, type ProcessorDefinition, run } from "../../../src/index.js";
import { effectsOf, onEveryStore, resultOf } from "../../contract/compare.js";
import type { OpenedStore } from "../../stores/stores.js";
import { captureLogger } from "../../support/logger.js";
import { noBackoff } from "../../support/time.js";

/**
 * Batches of five over ten entities; the first call of batch 2 writes through ctx.tx, then
 * hangs on a live interval, ignoring ctx.signal (it only notes why it aborted).
 */
function hangsOnce(
  opened: OpenedStore,
  seen: { calls: number[]; aborted: string[] },
  extra: Partial<ProcessorDefinition<number, undefined>> = {},
) {
  return defineProcessor<number>({
    name: "hangs-once",
    batchSize: 5,
    entities: ({ after }) =>
      Array.from({ length: 10 }, (_, i) => i + 1).filter(
        (n) => after === null || n > Number(after),
      ),
    id: (n) => n,
    retry: { attempts: 2, initialDelayMs: 1 },
    async processBatch(batch, ctx) {
      seen.calls.push(ctx.batchNumber);
      for (const n of batch) await opened.writeEffect(ctx.tx, `e-${n}`);
      if (ctx.batchNumber !== 2 || seen.calls.filter((b) => b === 2).length > 1) return;
      // A live handle, as a socket that never answers is: the batch hangs, not the loop.
      const alive = setInterval(() => {}, 1000);
      ctx.signal.addEventListener("abort", () => {
        seen.aborted.push((ctx.signal.reason as { code?: string }).code ?? "?");
        // The abort ends the hang: nothing keeps the process alive past it.
        clearInterval(alive);
      });
      await new Promise<void>(() => {});
    },
    ...extra,
  });
}

describe("batchTimeoutMs", { timeout: 60_000 }, () => {
  it("aborts a hung batch through ctx.signal; the attempt is retried and nothing of it lands", async () => {
    const seen = await onEveryStore(async (opened) => {
      const observed = { calls: [] as number[], aborted: [] as string[] };
      const { logger, lines } = captureLogger();
      // The run's option overrides the processor's minute.
      const result = await run(hangsOnce(opened, observed, { batchTimeoutMs: 60_000 }), {
        store: opened.store,
        logger,
        sleep: noBackoff,
        batchTimeoutMs: 50,
      });
      return {
        result: resultOf(result),
        ...observed,
        effects: await effectsOf(opened),
        line: lines.some((l) =>
          /^warn: Batch 2 of hangs-once\/default failed \(attempt 1 of 3\): Batch 2 of hangs-once\/default took longer than batchTimeoutMs \(50 ms\); it was aborted through ctx\.signal and counts as a failed attempt\..* Retrying in \d+ ms\.$/.test(
            l,
          ),
        ),
      };
    });
    assert.equal(seen.result.status, "completed");
    assert.deepEqual(seen.calls, [1, 2, 2], "batch 2 was tried again after its timeout");
    assert.deepEqual(seen.aborted, ["BATCH_TIMEOUT"], "ctx.signal said why");
    assert.ok(seen.line, "the failed attempt is logged with the timeout");
    assert.ok(
      seen.effects.every(([, writes]) => writes === 1),
      "the timed-out attempt's writes never landed",
    );
  });

  it("fails the run with BATCH_TIMEOUT once the attempts are spent", async () => {
    const seen = await onEveryStore(async (opened) => {
      const observed = { calls: [] as number[], aborted: [] as string[] };
      const result = await run(hangsOnce(opened, observed, { batchTimeoutMs: 50, retry: false }), {
        store: opened.store,
        logger: false,
      });
      return { result: resultOf(result), calls: observed.calls };
    });
    assert.equal(seen.result.status, "failed");
    assert.equal(seen.result.error, "BATCH_TIMEOUT");
    assert.equal(seen.result.completed, 5, "batch 1 stays committed");
  });

  it("is validated on the processor and the run, naming the option", async () => {
    const bad = [0, 1.5, -1, 2 ** 31, "60s"];
    for (const value of bad) {
      assert.throws(
        () =>
          defineProcessor({
            name: "p",
            entities: () => [],
            id: (n: number) => n,
            processBatch: () => {},
            batchTimeoutMs: value as number,
          }),
        (error: Error & { option?: string }) =>
          error.option === "batchTimeoutMs" &&
          /Invalid processor "p" option `batchTimeoutMs`: expected .*pass milliseconds, e\.g\. 60_000/.test(
            error.message,
          ),
        String(value),
      );
    }
    const processor = defineProcessor({
      name: "p",
      entities: () => [],
      id: (n: number) => n,
      processBatch: () => {},
    });
    const { MemoryStore } = await import("../../../src/index.js");
    await assert.rejects(
      run(processor, { store: new MemoryStore(), batchTimeoutMs: 0 }),
      /Invalid run option `batchTimeoutMs`: expected an integer from 1 and up; pass milliseconds, e\.g\. 60_000, got 0/,
    );
  });
});
