import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { defineProcessor, run } from "../../src/index.js";
import { collectGarbage } from "../../src/reports/actions.js";
import { loadAdvice, loadStale, loadStats, loadStatus } from "../../src/reports/load.js";
import { type OpenedStore, STORE_FACTORIES } from "../stores/stores.js";

const DAY = 86_400_000;

/**
 * The reports read only through the store API; these checks run them on every store (the
 * SQLite-only suite beside this file checks every figure in depth).
 */
for (const factory of STORE_FACTORIES) {
  describe(`reports on ${factory.name}`, () => {
    let opened: OpenedStore;
    beforeEach(async () => {
      opened = await factory.open();
    });
    afterEach(async () => {
      await opened.cleanup();
    });

    it("status, stats, stale, gc and advise agree with the runs that were made", async () => {
      const t0 = Date.now() - 2 * DAY;
      let clock = t0;
      let failAt: number | null = 45;
      const processor = defineProcessor<{ id: number }>({
        name: "players",
        batchSize: 10,
        retry: false,
        entities: ({ after }) =>
          Array.from({ length: 100 }, (_, i) => ({ id: i + 1 })).filter(
            (e) => after === null || e.id > (after as number),
          ),
        id: (e) => e.id,
        processBatch: async (batch) => {
          clock += batch.length * 100; // 100 ms of simulated work per entity
          if (failAt !== null && batch.some((e) => e.id === failAt)) throw new Error("quota");
        },
      });
      const go = (partition: string) =>
        run(processor, { store: opened.store, partition, logger: false, now: () => clock });

      assert.equal((await go("p1")).status, "failed"); // 40 committed
      failAt = null;
      const resumed = await go("p1");
      assert.equal(resumed.resumedFrom, 40);
      failAt = 25;
      assert.equal((await go("p2")).status, "failed"); // 20 committed, left behind

      const now = clock + DAY + 1000;
      const status = await loadStatus(opened.store, { now });
      assert.deepEqual(
        status.map((r) => [r.processor, r.partition, r.completed, r.total, r.percent]),
        [["players", "p2", 20, 100, 20]],
      );

      const [stats] = await loadStats(opened.store, { since: t0 });
      assert.equal(stats?.runs, 3);
      assert.equal(stats?.resumedRuns, 1);
      assert.equal(stats?.entitiesSaved, 40);
      assert.equal(stats?.perEntityMs, 100); // the completed run: 60 entities in 6 s
      assert.equal(stats?.timeSavedMs, 4000);

      const stale = await loadStale(opened.store, { now, olderThanMs: DAY });
      assert.deepEqual(
        stale.checkpoints.map((c) => [c.processor, c.partition, c.completed]),
        [["players", "p2", 20]],
      );
      const gc = await collectGarbage(opened.store, stale, now);
      assert.equal(gc.removed.length, 1);
      assert.deepEqual(await opened.store.listCheckpoints(), []);

      const [advice] = await loadAdvice(opened.store, {
        now: t0 + 7 * DAY,
        weeklyRuns: 10,
        windowMs: 7 * DAY,
      });
      assert.equal(advice?.processor, "players");
      assert.equal(advice?.verdict, "insufficient-history");
      assert.equal(advice?.runsNeeded, 7); // 10 finished runs are needed; there are 3
    });
  });
}
