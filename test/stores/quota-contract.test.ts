import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { ADAPTIVE, tokensLastMinute } from "../../src/core/store/quota-bucket.js";
import type { QuotaSpec, QuotaStore, QuotaTake } from "../../src/core/store/quota-store.js";
import { type OpenedStore, STORE_FACTORIES } from "./stores.js";

const T0 = 1_700_000_080_000; // 40 s into a minute
/** 100 tokens a second: one every 10 ms. */
const spec: QuotaSpec = { key: "nba-api", limit: 100, perMs: 1000, burst: 10, adaptive: false };
const take = (over: Partial<QuotaTake> = {}): QuotaTake => ({
  ...spec,
  tokens: 10,
  credit: 0,
  owner: "run-a",
  now: T0,
  ...over,
});

/** The optional quota capability, on every store: the same schedule, pauses and counts. */
for (const factory of STORE_FACTORIES) {
  describe(`quota store contract: ${factory.name}`, () => {
    let opened: OpenedStore;
    let quotas: QuotaStore;
    beforeEach(async () => {
      opened = await factory.open();
      assert.ok(opened.store.quotas, `${factory.name} keeps quotas`);
      quotas = opened.store.quotas;
    });
    afterEach(async () => {
      await opened.cleanup();
    });

    it("gives runners sharing a key consecutive turns, one interval apart", async () => {
      const first = await quotas.take(take());
      assert.deepEqual(
        [first.start, first.intervalMs, first.end, first.storeNow, first.pausedUntil, first.rate],
        [T0, 10, T0 + 100, T0, 0, 100],
      );
      // Another runner at the same moment waits for the turns after the first lease.
      const second = await quotas.take(take({ owner: "run-b", tokens: 5 }));
      assert.deepEqual([second.start, second.end], [T0 + 100, T0 + 150]);
      // Later than the schedule's end, the key is idle: a lease starts now.
      const later = await quotas.take(take({ now: T0 + 1000 }));
      assert.equal(later.start, T0 + 1000);
    });

    it("never hands the same turns out twice to takes that race, the first ones included", async () => {
      const grants = await Promise.all(
        Array.from({ length: 24 }, (_, i) => quotas.take(take({ owner: `run-${i}`, tokens: 3 }))),
      );
      const leases = grants.map((g) => [g.start, g.end] as const).sort((a, b) => a[0] - b[0]);
      assert.equal(leases[0]?.[0], T0);
      for (let i = 1; i < leases.length; i++) {
        assert.equal(leases[i]?.[0], leases[i - 1]?.[1], `lease ${i} starts where ${i - 1} ends`);
      }
      assert.equal((await quotas.list())[0]?.taken, 72);
    });

    it("lets credit turns go at once after a quiet spell, never more than credit + 1", async () => {
      const grant = await quotas.take(take({ credit: 4 }));
      // Token i has its turn at start + (i - credit) * interval: the first five now.
      assert.equal(grant.start - grant.credit * grant.intervalMs, T0 - 40);
      const next = await quotas.take(take({ credit: 4 }));
      assert.equal(next.start - next.credit * next.intervalMs, T0 + 60, "no credit while busy");
    });

    it("moves the schedule back for a given-back tail, only while it is the schedule's end", async () => {
      const a = await quotas.take(take());
      await quotas.giveBack({
        key: spec.key,
        owner: "run-a",
        end: a.end,
        from: T0 + 30,
        tokens: 7,
        now: T0,
      });
      const b = await quotas.take(take({ owner: "run-b" }));
      assert.equal(b.start, T0 + 30, "the 7 unused turns went to the next lease");
      const c = await quotas.take(take({ owner: "run-c" }));
      // b is no longer the tail: giving it back would hand c's turns out twice.
      await quotas.giveBack({
        key: spec.key,
        owner: "run-b",
        end: b.end,
        from: b.start,
        tokens: 10,
        now: T0,
      });
      const d = await quotas.take(take({ owner: "run-d" }));
      assert.equal(d.start, c.end);
      const [row] = await quotas.list();
      assert.equal(row?.taken, 10 + 10 + 10 + 10 - 7);
    });

    it("pauses a key: no turn before the pause ends, and then no burst", async () => {
      await quotas.take(take());
      const state = await quotas.pause({ ...spec, retryAfterMs: 2000, now: T0 + 50 });
      assert.deepEqual(state, { key: spec.key, pausedUntil: T0 + 2050, storeNow: T0 + 50 });
      // A 429 of a request sent before the pause is the same pause, made no shorter.
      await quotas.pause({ ...spec, retryAfterMs: 500, now: T0 + 60 });
      const [known] = await quotas.pauses([spec.key, "other"], T0 + 70);
      assert.equal(known?.pausedUntil, T0 + 2050);
      assert.deepEqual((await quotas.pauses(["other"], T0 + 70))[0]?.pausedUntil, 0);
      const after = await quotas.take(take({ credit: 4, now: T0 + 100 }));
      assert.equal(after.pausedUntil, T0 + 2050);
      // Credit turns start at the pause's end: evenly, not in a burst into the API.
      assert.equal(after.start - after.credit * after.intervalMs, T0 + 2050);
      const [row] = await quotas.list();
      assert.deepEqual([row?.pauses, row?.lastPauseAt], [1, T0 + 60]);
      await quotas.pause({ ...spec, retryAfterMs: 100, now: T0 + 3000 });
      assert.equal((await quotas.list())[0]?.pauses, 2, "a 429 after the pause ended is a new one");
    });

    it("halves an adaptive key's rate on each new pause and raises it after quiet periods", async () => {
      const adaptive = { ...spec, adaptive: true };
      await quotas.take(take({ adaptive: true }));
      await quotas.pause({ ...adaptive, retryAfterMs: 1000, now: T0 });
      await quotas.pause({ ...adaptive, retryAfterMs: 1000, now: T0 + 10 }); // same pause
      assert.equal((await quotas.list())[0]?.rate, 50);
      await quotas.pause({ ...adaptive, retryAfterMs: 1000, now: T0 + 2000 });
      let grant = await quotas.take(take({ adaptive: true, now: T0 + 3000 }));
      assert.deepEqual([grant.rate, grant.intervalMs], [25, 40]);
      // Each quiet period of 10 s adds a tenth of the limit, once.
      grant = await quotas.take(take({ adaptive: true, now: T0 + 2000 + ADAPTIVE.minQuietMs }));
      assert.equal(grant.rate, 35);
      grant = await quotas.take(take({ adaptive: true, now: T0 + 2001 + ADAPTIVE.minQuietMs }));
      assert.equal(grant.rate, 35, "one step per quiet period");
      for (let i = 2; i <= 12; i++) {
        grant = await quotas.take(
          take({ adaptive: true, now: T0 + 2000 + i * ADAPTIVE.minQuietMs }),
        );
      }
      assert.equal(grant.rate, 100, "never above the limit");
      // Many pauses never take the rate below 5% of the limit.
      for (let i = 0; i < 10; i++) {
        await quotas.pause({ ...adaptive, retryAfterMs: 1, now: T0 + 200_000 + i * 10 });
      }
      assert.equal((await quotas.list())[0]?.rate, 100 * ADAPTIVE.floor);
    });

    it("lists keys with the owners waiting for turns and their use over the last minute", async () => {
      await quotas.take(take({ key: "b-api" }));
      await quotas.take(take({ owner: "run-a", tokens: 30 })); // idle key: no wait
      await quotas.take(take({ owner: "run-b", tokens: 30 })); // waits for run-a's turns
      assert.deepEqual((await quotas.list())[1]?.waiting, { "run-b": T0 + 600 });
      await quotas.take(take({ owner: "run-c", tokens: 30, now: T0 + 30_000 })); // the next minute
      const rows = await quotas.list();
      assert.deepEqual(
        rows.map((r) => r.key),
        ["b-api", "nba-api"],
      );
      const row = rows[1];
      assert.ok(row);
      assert.deepEqual(row.waiting, {}, "run-b's lease has ended: it waits no more");
      assert.deepEqual(
        [row.minuteStart, row.minuteTaken, row.prevMinuteTaken],
        [T0 + 20_000, 30, 60],
      );
      // 30 s into the minute: all of it, and half of the minute before.
      assert.equal(tokensLastMinute(row, T0 + 50_000), 30 + 60 * 0.5);
      assert.deepEqual(
        [row.limit, row.perMs, row.burst, row.adaptive, row.taken],
        [100, 1000, 10, false, 90],
      );
    });
  });
}
