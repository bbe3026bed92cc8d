import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { checkpointKey } from "../../src/core/checkpoint-key.js";
import type { BackfillOpen, BackfillStore } from "../../src/core/store/backfill-store.js";
import type { AcquireRequest, LeaseHandle } from "../../src/core/store/run-store.js";
import { FencedError } from "../../src/index.js";
import { leaseRun } from "../support/run-record.js";
import { type OpenedStore, STORE_FACTORIES } from "./stores.js";

const HOUR = 3_600_000;
const T0 = 1_700_000_000_000;
const DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"];

// The contract of the elastic-backfill side of a store, the same on every store: backfill
// records, claims decided under the lease (`completedSince`, `mustExist`), ranges stored with
// checkpoints, and splits asked for and answered.
for (const factory of STORE_FACTORIES) {
  describe(`backfills on ${factory.name}`, () => {
    let opened: OpenedStore;
    let backfills: BackfillStore;
    beforeEach(async () => {
      opened = await factory.open();
      backfills = opened.store.backfills as BackfillStore;
      assert.ok(backfills, "the store keeps backfills");
    });
    afterEach(() => opened.cleanup());

    const open = (now: number, overrides: Partial<BackfillOpen> = {}) =>
      backfills.open({
        processor: "daily",
        id: "range-2024",
        partitions: DAYS,
        now,
        staleBefore: now - 24 * HOUR,
        restart: false,
        repeatFinished: false,
        ...overrides,
      });

    const claim = (partition: string, overrides: Partial<AcquireRequest> = {}) =>
      opened.store.acquire({
        ...checkpointKey("daily", partition),
        owner: "me",
        runId: `run-${partition}-${overrides.now ?? T0}`,
        leaseTtlMs: 30_000,
        now: T0,
        ...overrides,
      });

    const complete = async (lease: LeaseHandle, now: number) =>
      opened.store.complete(lease, now, leaseRun(lease, now));

    it("begins a backfill, joins it while unfinished, and finds it finished afterwards", async () => {
      const first = await open(T0);
      assert.deepEqual(first, {
        processor: "daily",
        id: "range-2024",
        startedAt: T0,
        resumed: false,
        finishedAt: null,
        runs: null,
        discarded: 0,
        replaced: null,
      });
      const again = await open(T0 + 1000);
      assert.deepEqual([again.resumed, again.startedAt], [true, T0], "joined: same beginning");
      const held = await claim(DAYS[0] as string, { now: T0 + 2000 });
      assert.ok(held.acquired);
      await complete(held.lease, T0 + 3000);
      await backfills.finish(again, T0 + 4000);
      const finished = await open(T0 + 5000);
      assert.deepEqual(
        [finished.startedAt, finished.finishedAt, finished.runs],
        [T0, T0 + 4000, 1],
        "finished, with when and by how many runs",
      );
      const repeated = await open(T0 + 6000, { repeatFinished: true });
      assert.deepEqual(
        [repeated.resumed, repeated.startedAt, repeated.finishedAt],
        [false, T0 + 6000, null],
      );
      const rerun = await open(T0 + 7000, { restart: true });
      assert.deepEqual([rerun.resumed, rerun.startedAt], [false, T0 + 7000]);
    });

    it("begins anew when stale, unless one of its partitions committed lately", async () => {
      await open(T0);
      const held = await claim(DAYS[1] as string, { now: T0 + 10 * HOUR });
      assert.ok(held.acquired);
      // Opened 30 h ago, but a partition of it took a lease 20 h later: still active.
      const active = await open(T0 + 30 * HOUR);
      assert.deepEqual([active.resumed, active.startedAt], [true, T0]);
      const stale = await open(T0 + 80 * HOUR);
      assert.deepEqual(
        [stale.resumed, stale.startedAt, stale.replaced],
        [false, T0 + 80 * HOUR, T0],
        "a new one, which says which one it replaced",
      );
    });

    it("a claim of a unit completed since the backfill began takes nothing", async () => {
      // The completion keeps the static split it was made under, for the claim to judge drift.
      const unit = { range: { from: 10, to: 20 }, layout: "abc" };
      const first = await claim("2024-01-01", { now: T0 + 1000, unit });
      assert.ok(first.acquired);
      await complete(first.lease, T0 + 2000);
      const done = await claim("2024-01-01", { now: T0 + 3000, completedSince: T0, unit });
      assert.deepEqual(done, {
        acquired: false,
        completed: { at: T0 + 2000, runId: first.lease.runId, layout: "abc", range: unit.range },
      });
      const listing = await backfills.listUnits("daily", DAYS, T0);
      assert.deepEqual(listing.checkpoints, [], "the claim created no checkpoint");
      // A completion before the backfill began is no reason not to run.
      const later = await claim("2024-01-01", { now: T0 + 4000, completedSince: T0 + 2500 });
      assert.equal(later.acquired, true);
    });

    it("stores a claim's range with its checkpoint, and keeps it on the next claims", async () => {
      const unit = { range: { from: 10, to: 20 }, layout: "abc" };
      const first = await claim("2024-01-02", { unit });
      assert.ok(first.acquired);
      assert.deepEqual([first.checkpoint.range, first.checkpoint.layout], [unit.range, "abc"]);
      await opened.store.release(first.lease, T0);
      const other = { range: { from: 0, to: 99 }, layout: "xyz" };
      const second = await claim("2024-01-02", { now: T0 + 1, unit: other });
      assert.ok(second.acquired);
      assert.deepEqual(
        [second.checkpoint.range, second.checkpoint.layout],
        [unit.range, "abc"],
        "the stored range wins: drift is the runner's to judge",
      );
    });

    it("a split ends the holder's range and makes a shard of the rest, under the lease", async () => {
      await open(T0);
      const held = await claim("2024-01-03", {
        unit: { range: { from: null, to: 1000 }, layout: "" },
      });
      assert.ok(held.acquired);
      assert.equal(await backfills.requestSplit(held.lease, "idle-runner", T0 + 1), true);
      assert.equal(
        await backfills.requestSplit(held.lease, "another", T0 + 2),
        false,
        "one request at a time",
      );
      const asked = await backfills.listUnits("daily", DAYS, T0);
      assert.deepEqual(asked.checkpoints[0]?.splitRequest, { by: "idle-runner", at: T0 + 1 });
      await backfills.answerSplit(
        held.lease,
        { kind: "split", at: 500, shard: "~half", requestedBy: "idle-runner" },
        T0 + 3,
      );
      const listing = await backfills.listUnits("daily", DAYS, T0);
      const byShard = new Map(listing.checkpoints.map((c) => [c.shard, c]));
      assert.deepEqual(byShard.get("")?.range, { from: null, to: 500 });
      assert.equal(byShard.get("")?.splitRequest, null);
      const child = byShard.get("~half");
      assert.deepEqual(
        [child?.range, child?.parent, child?.leaseOwner, child?.cursor, child?.completed],
        [{ from: 500, to: 1000 }, "", null, null, 0],
      );
      const claimed = await opened.store.acquire({
        ...checkpointKey("daily", "2024-01-03", "~half"),
        owner: "idle",
        runId: "r-half",
        leaseTtlMs: 30_000,
        now: T0 + 4,
        mustExist: true,
        completedSince: T0,
      });
      assert.ok(claimed.acquired, "the idle runner claims the new shard");
      assert.deepEqual(claimed.checkpoint.range, { from: 500, to: 1000 });
      await complete(claimed.lease, T0 + 5);
      const gone = await opened.store.acquire({
        ...checkpointKey("daily", "2024-01-03", "~gone"),
        owner: "idle",
        runId: "r-gone",
        leaseTtlMs: 30_000,
        now: T0 + 6,
        mustExist: true,
      });
      assert.deepEqual(gone, { acquired: false, absent: true }, "a missing shard is never made up");
      const done = await backfills.listUnits("daily", DAYS, T0);
      assert.deepEqual(
        done.completions.map((c) => [c.shard, c.range, c.completed]),
        [["~half", { from: 500, to: 1000 }, 0]],
      );
    });

    it("a declined split keeps its note; a holder that lost the lease cannot answer", async () => {
      const held = await claim("2024-01-01", {
        unit: { range: { from: null, to: null }, layout: "" },
      });
      assert.ok(held.acquired);
      assert.equal(await backfills.requestSplit(held.lease, "idle", T0 + 1), true);
      await backfills.answerSplit(held.lease, { kind: "decline", note: "no split hook" }, T0 + 2);
      const listing = await backfills.listUnits("daily", DAYS, 0);
      assert.deepEqual(
        [listing.checkpoints[0]?.splitRequest, listing.checkpoints[0]?.splitNote],
        [null, "no split hook"],
      );
      assert.equal(
        await backfills.requestSplit(held.lease, "stale-view", T0 + 3),
        false,
        "a declined unit is not asked again: its range only shrinks",
      );
      const taken = await claim("2024-01-01", { owner: "other", runId: "r2", now: T0 + 60_000 });
      assert.ok(taken.acquired);
      await assert.rejects(
        backfills.answerSplit(
          held.lease,
          { kind: "split", at: 5, shard: "~x", requestedBy: null },
          T0 + 60_001,
        ),
        FencedError,
      );
      assert.equal(
        await backfills.requestSplit(held.lease, "idle", T0 + 200_000),
        false,
        "nobody holds it live any more",
      );
    });

    /** Claims the whole of `partition` at T0 and splits it at 50: shard `~rest` takes the rest. */
    async function splitAt50(partition: string): Promise<void> {
      const held = await claim(partition, {
        unit: { range: { from: null, to: null }, layout: "" },
      });
      assert.ok(held.acquired);
      await backfills.requestSplit(held.lease, "idle", T0 + 1);
      await backfills.answerSplit(
        held.lease,
        { kind: "split", at: 50, shard: "~rest", requestedBy: "idle" },
        T0 + 2,
      );
    }

    it("a new backfill sharing a partition leaves another's recent split alone", async () => {
      await open(T0, { id: "first", partitions: ["2024-01-01", "2024-01-03"] });
      await splitAt50("2024-01-03");
      // The holder dies before anyone claimed the shard it split off; then another backfill
      // of another partition list, which shares that partition, begins.
      const other = await open(T0 + 60_000, {
        id: "second",
        partitions: ["2024-01-03", "2024-01-04"],
      });
      assert.deepEqual([other.resumed, other.discarded], [false, 0]);
      const left = await backfills.listUnits("daily", ["2024-01-03"], 0);
      assert.deepEqual(
        left.checkpoints.map((c) => c.shard).sort(),
        ["", "~rest"],
        "the first backfill's split partition keeps both its ranges",
      );
    });

    it("a backfill begun anew discards the checkpoints of split partitions nobody holds", async () => {
      await open(T0);
      await splitAt50("2024-01-03");
      const plain = await claim("2024-01-01", {
        unit: { range: { from: null, to: null }, layout: "" },
      });
      assert.ok(plain.acquired);
      const anew = await open(T0 + 100 * HOUR);
      assert.deepEqual([anew.resumed, anew.discarded], [false, 2]);
      const left = await backfills.listUnits("daily", DAYS, 0);
      assert.deepEqual(
        left.checkpoints.map((c) => `${c.partition}/${c.shard}`),
        ["2024-01-01/"],
        "the unsplit partition keeps its checkpoint",
      );
    });
  });
}
