import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import type { BackfillStore } from "../../src/core/store/backfill-store.js";
import { defineProcessor, fromRange, runPartitions } from "../../src/index.js";
import { type OpenedStore, STORE_FACTORIES } from "../stores/stores.js";
import { until } from "../support/time.js";

const SIZES: Record<string, number> = { p1: 10, p2: 10, p3: 60, p4: 5 };

// Two backfills of different partition lists on one store stay separate: each runs its own
// partitions once since it began, finishes on its own, and never takes the other's work away.
for (const factory of STORE_FACTORIES) {
  describe(`two backfills of different partition lists on ${factory.name}`, () => {
    let opened: OpenedStore;
    let backfills: BackfillStore;
    beforeEach(async () => {
      opened = await factory.open();
      backfills = opened.store.backfills as BackfillStore;
    });
    afterEach(() => opened.cleanup());

    /** Every entity of `partitions` written through `ctx.tx` exactly `times`, none else. */
    async function assertWritten(partitions: Record<string, number>) {
      const effects = await opened.effects();
      const expected = new Map<string, number>();
      for (const [partition, times] of Object.entries(partitions)) {
        for (let n = 1; n <= (SIZES[partition] as number); n++)
          expected.set(`${partition}:${n}`, times);
      }
      assert.deepEqual(new Map([...effects].sort()), new Map([...expected].sort()));
    }

    function ranges(processBatch?: (batch: number[], partition: string) => Promise<void>) {
      return defineProcessor<number>({
        name: "ranges",
        batchSize: 5,
        retry: false,
        ...fromRange(({ partition }) => ({ from: 1, to: SIZES[partition] as number })),
        async processBatch(batch, ctx) {
          await processBatch?.(batch, ctx.partition);
          for (const n of batch) await opened.writeEffect(ctx.tx, `${ctx.partition}:${n}`);
        },
      });
    }

    const go = (partitions: string[], processor = ranges()) =>
      runPartitions(processor, {
        store: opened.store,
        partitions,
        pollIntervalMs: 10,
        logger: false,
      });

    it("each runs its own partitions, and each is found finished on its own", async () => {
      assert.equal((await go(["p1", "p2"])).status, "completed");
      const other = await go(["p2", "p3"]);
      assert.equal(other.status, "completed");
      assert.deepEqual(
        other.partitions.map((o) => [o.partition, o.status]),
        [
          ["p2", "completed"],
          ["p3", "completed"],
        ],
        "p2, completed before this backfill began, is run again for it",
      );
      for (const list of [
        ["p1", "p2"],
        ["p2", "p3"],
      ]) {
        const again = await go(list);
        assert.equal(again.backfill?.alreadyFinished, true, `${list} found finished`);
        assert.equal(again.processed, 0);
      }
      await assertWritten({ p1: 1, p2: 2, p3: 1 });
    });

    it("a backfill begun while another's partition is split does not take a range from it", async () => {
      const key = { processor: "ranges", partition: "p3", shard: "" };
      const listed = (partitions: string[]) => backfills.listUnits("ranges", partitions, 0);
      const split = async () => (await listed(["p3"])).checkpoints.some((c) => c.shard !== "");
      const otherRan = async () => (await listed(["p4"])).completions.length > 0;
      // The first backfill holds p3 alone; an idle runner elsewhere asks it to split. Once it
      // has, its holder waits until the second backfill has begun and run p4.
      const first = go(
        ["p3"],
        ranges(async (batch, partition) => {
          if (partition !== "p3") return;
          if (batch[0] === 6) await backfills.requestSplit(key, "elsewhere", Date.now());
          if ((batch[0] as number) > 6 && !(await split())) await delay(5);
          if ((batch[0] as number) > 6 && (await split())) await until("p4 to run", otherRan);
        }),
      );
      await until("p3 to be split", split);
      const second = await go(["p3", "p4"]);
      assert.equal(second.status, "completed");
      assert.equal((await first).status, "completed");
      await assertWritten({ p3: 1, p4: 1 });
    });
  });
}
