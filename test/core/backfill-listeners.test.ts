// A backfill of 64 partitions at once adds no listener it does not remove, and Node prints no
// MaxListenersExceededWarning (once: "11 abort listeners added to [AbortSignal]").
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { describe, it } from "node:test";
import { setImmediate as tick } from "node:timers/promises";
import { defineProcessor, MemoryStore, runPartitions } from "../../src/index.js";

describe("runPartitions at concurrency 64", () => {
  it("runs all 64 at once without a MaxListenersExceededWarning, and leaves no listener", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on("warning", onWarning);
    // Every run waits in its first batch until all 64 are in theirs: they overlap for sure.
    let inFirstBatch = 0;
    let allIn: () => void = () => {};
    const together = new Promise<void>((resolve) => {
      allIn = resolve;
    });
    const processor = defineProcessor<number>({
      name: "wide",
      batchSize: 2,
      entities: () => [1, 2, 3, 4],
      id: (n) => n,
      async processBatch(_batch, ctx) {
        if (ctx.batchNumber !== 1) return;
        if (++inFirstBatch === 64) allIn();
        await together;
      },
    });
    const signal = new AbortController().signal;
    try {
      const result = await runPartitions(processor, {
        store: new MemoryStore(),
        partitions: Array.from({ length: 64 }, (_, i) => `p${i}`),
        concurrency: 64,
        signal,
        handleSignals: true,
        logger: false,
      });
      await tick(); // warnings are emitted on a later tick
      assert.equal(result.counts.completed, 64);
      assert.equal(inFirstBatch, 64);
      assert.deepEqual(warnings, []);
      assert.equal(
        getEventListeners(signal, "abort").length,
        0,
        "the caller's signal is left clean",
      );
      assert.equal(process.listenerCount("SIGTERM"), 0, "no signal handler is left behind");
    } finally {
      process.off("warning", onWarning);
    }
  });
});
