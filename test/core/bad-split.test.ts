import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import type { SplitArgs } from "../../src/core/shard-types.js";
import type { BackfillStore } from "../../src/core/store/backfill-store.js";
import { defineProcessor, runPartitions } from "../../src/index.js";
import { type OpenedStore, STORE_FACTORIES } from "../stores/stores.js";
import { captureLogger } from "../support/logger.js";
import { until } from "../support/time.js";

const BIG = 200;
const SMALL = 5;

/** Split points a `split` hook must not be taken at: each refused, the partition unsplit. */
const BAD: Array<[string, (args: SplitArgs) => unknown, RegExp]> = [
  ["past the range's end", ({ to }) => (to as number) + 50, /not below the range's end 150/],
  ["not a cursor", () => ({ at: 100 }), /a split point is an id/],
  ["at what the holder has claimed", ({ after }) => after, /not after \d+, which the holder/],
  ["a string where the ids are numbers", () => "100", /a string where the ids are numbers/],
];

// A `split` hook that names a point it must not: refused with an error naming `split` and the
// partition, and the partition carries on unsplit and completes with every entity once.
for (const factory of STORE_FACTORIES) {
  describe(`a split hook's bad point on ${factory.name}`, () => {
    let opened: OpenedStore;
    beforeEach(async () => {
      opened = await factory.open();
    });
    afterEach(() => opened.cleanup());

    /** Whether an idle runner has asked the holder of "big" to split. */
    async function asked(): Promise<boolean> {
      const backfills = opened.store.backfills as BackfillStore;
      const listing = await backfills.listUnits("splitter", ["big"], 0);
      return listing.checkpoints.some((c) => c.splitRequest !== null || c.splitNote !== null);
    }

    /**
     * "big" (ids 1..200, its shard `lo` up to 150) and "small" (5 ids) two at a time: the slot
     * that ran "small" asks `lo` to split. `lo` waits for that request before its second batch,
     * and `split` answers with `point`. Unsharded (`whole`), "big" is asked while its source
     * opens, before anything is read.
     */
    async function backfill(point: (args: SplitArgs) => unknown, options: { whole?: boolean }) {
      const calls: SplitArgs[] = [];
      const { logger, lines } = captureLogger();
      const processor = defineProcessor<number>({
        name: "splitter",
        batchSize: 5,
        retry: false,
        ...(options.whole
          ? {}
          : {
              shards: ({ partition }: { partition: string }) =>
                partition === "big"
                  ? [
                      { id: "lo", to: 150 },
                      { id: "hi", from: 150 },
                    ]
                  : [{ id: "all" }],
            }),
        async entities({ partition, after, shard }) {
          // A source slow to open: the request is seen before anything was read.
          if (options.whole && partition === "big" && after === null) {
            await until("the split request", asked);
            await delay(50);
          }
          const size = partition === "big" ? BIG : SMALL;
          const from = Number(after ?? shard?.from ?? 0);
          return Array.from({ length: size - from }, (_, i) => from + 1 + i);
        },
        id: (n) => n,
        async split(args) {
          calls.push(args);
          // Three of the holder's polls pass while it decides: none may see the request again.
          await delay(30);
          return point(args) as number;
        },
        async processBatch(batch, ctx) {
          if (ctx.partition === "big" && (batch[0] as number) <= 150) {
            if (batch[0] === 6 && !options.whole) await until("the split request", asked);
            // Slow until the holder has answered, so that it answers mid-range.
            if (calls.length === 0) await delay(5);
          }
          for (const n of batch) await opened.writeEffect(ctx.tx, `${ctx.partition}:${n}`);
        },
      });
      const result = await runPartitions(processor, {
        store: opened.store,
        partitions: ["big", "small"],
        concurrency: 2,
        pollIntervalMs: 10,
        logger,
      });
      return { result, calls, lines };
    }

    async function assertUnsplitOnce(): Promise<void> {
      const effects = await opened.effects();
      assert.equal(effects.size, BIG + SMALL);
      for (const [key, writes] of effects) assert.equal(writes, 1, `${key} written once`);
      const runs = await opened.store.listRuns({ processor: "splitter" });
      assert.deepEqual(
        runs.filter((r) => r.shard.startsWith("~")).map((r) => r.shard),
        [],
        "no shard was split off",
      );
    }

    for (const [name, point, problem] of BAD) {
      it(`refuses a point ${name}, naming split and the partition; nothing lost`, async () => {
        const { result, calls, lines } = await backfill(point, {});
        assert.equal(result.status, "completed", lines.join("\n"));
        assert.equal(calls.length, 1, "asked once: a refused split is not asked for again");
        const refusal = lines.find((l) => l.startsWith("error: ") && problem.test(l));
        assert.ok(refusal, `the refusal, in:\n${lines.join("\n")}`);
        assert.match(refusal, /split\(\) of splitter\/big shard lo returned/);
        assert.match(refusal, /The partition carries on unsplit/);
        await assertUnsplitOnce();
      });
    }

    it("does not answer before the holder has read an id: a string is refused then", async () => {
      const { result, calls, lines } = await backfill(() => "m", { whole: true });
      assert.equal(result.status, "completed", lines.join("\n"));
      assert.ok(calls.length >= 1 && calls.every((c) => c.after !== null), "asked after a read");
      assert.ok(lines.some((l) => /a string where the ids are numbers/.test(l)));
      await assertUnsplitOnce();
    });
  });
}
