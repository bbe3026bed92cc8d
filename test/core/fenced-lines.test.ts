// A runner whose lease another runner took over does not say "Checkpoint saved - can resume"
// or "run the same command again": the other runner holds that checkpoint now.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeSummary } from "../../src/cli/run-report.js";
import { defineProcessor, MemoryStore, run, runPartitions } from "../../src/index.js";
import { captureLogger } from "../support/logger.js";
import { noBackoff } from "../support/time.js";

const T0 = 1_700_000_000_000;
const IDS = Array.from({ length: 15 }, (_, i) => i + 1);

describe("a fenced runner's lines", () => {
  it("say another runner holds the checkpoint, in the log and in the summary", async () => {
    const store = new MemoryStore();
    const processor = defineProcessor<number>({
      name: "fenced",
      batchSize: 5,
      leaseTtlMs: 1000,
      entities: ({ after }) => IDS.filter((n) => after === null || n > (after as number)),
      id: (n) => n,
      async processBatch(_batch, ctx) {
        if (ctx.batchNumber !== 2) return;
        // Another runner takes the lease once this one's (frozen) clock let it expire.
        const taken = await store.acquire({
          processor: "fenced",
          partition: ctx.partition,
          shard: "",
          owner: "other",
          runId: "other-run",
          leaseTtlMs: 60_000,
          now: T0 + 5000,
        });
        assert.ok(taken.acquired);
      },
    });
    const { logger, lines } = captureLogger();
    const result = await run(processor, { store, logger, now: () => T0, sleep: noBackoff });
    assert.equal(result.status, "failed");
    assert.equal((result.error as { code?: string }).code, "FENCED");
    const failed = lines.find((line) => line.startsWith("error: Failed at"));
    assert.match(
      failed ?? "",
      /^error: Failed at 5\/15\. Another runner holds this checkpoint now/,
    );
    assert.doesNotMatch(lines.join("\n"), /can resume|run the same command/i);

    const backfill = await runPartitions(processor, {
      store,
      partitions: ["p2"],
      logger: false,
      now: () => T0,
      sleep: noBackoff,
    });
    const summary = describeSummary("fenced", backfill);
    assert.match(summary, /Another runner holds the checkpoint of p2 now/);
    assert.doesNotMatch(summary, /Run the same command again/);
  });
});
