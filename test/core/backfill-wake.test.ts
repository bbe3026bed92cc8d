import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defineProcessor } from "../../src/core/processor.js";
import { runPartitions } from "../../src/core/run-partitions.js";
import { MemoryStore } from "../../src/stores/memory/memory-store.js";

describe("a backfill's waiting slots", () => {
  it("see the end of a unit of their own process at once, not at their next look", async () => {
    // Every pause lasts until it is woken (or the backfill stops): a slot that waited for its
    // next look would never see the long partition end, and the backfill would not finish.
    let pauses = 0;
    const sleep = (_ms: number, signal: AbortSignal) =>
      new Promise<void>((resolve) => {
        pauses++;
        if (signal.aborted) resolve();
        else signal.addEventListener("abort", () => resolve(), { once: true });
      });
    const sizes: Record<string, number> = { short: 2, long: 40 };
    const processor = defineProcessor<number>({
      name: "wake",
      batchSize: 2,
      retry: false,
      entities: ({ partition, after }) =>
        Array.from({ length: sizes[partition] ?? 0 }, (_, i) => i + 1).filter(
          (n) => n > ((after as number | null) ?? 0),
        ),
      id: (n) => n,
      processBatch: () => new Promise((resolve) => setTimeout(resolve, 2)),
    });
    const store = new MemoryStore();
    const result = await runPartitions(processor, {
      store,
      partitions: ["short", "long"],
      concurrency: 2,
      logger: false,
      sleep,
    });
    assert.equal(result.status, "completed");
    assert.deepEqual(
      result.partitions.map((p) => [p.partition, p.status]),
      [
        ["short", "completed"],
        ["long", "completed"],
      ],
    );
    assert.ok(pauses > 0, "the slot that ran the short partition waited for the long one");
  });
});
