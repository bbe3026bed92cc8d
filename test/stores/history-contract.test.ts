import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { checkpointKey } from "../../src/core/checkpoint-key.js";
import type { BackfillStore } from "../../src/core/store/backfill-store.js";
import type { AcquireRequest, LeaseHandle } from "../../src/core/store/run-store.js";
import { leaseRun } from "../support/run-record.js";
import { type OpenedStore, STORE_FACTORIES } from "./stores.js";

const T0 = 1_700_000_000_000;
const WHOLE = { range: { from: null, to: null }, layout: "" };

// The read side of elastic backfills and the partition reset, the same on every store:
// split history, the completions of partitions in flight, the backfills begun, and a reset
// that starts a partition over, every shard of it.
for (const factory of STORE_FACTORIES) {
  describe(`split history, completions and partition resets on ${factory.name}`, () => {
    let opened: OpenedStore;
    let backfills: BackfillStore;
    beforeEach(async () => {
      opened = await factory.open();
      backfills = opened.store.backfills as BackfillStore;
    });
    afterEach(() => opened.cleanup());

    const claim = async (
      partition: string,
      shard = "",
      overrides: Partial<AcquireRequest> = {},
    ) => {
      const taken = await opened.store.acquire({
        ...checkpointKey("daily", partition, shard),
        owner: "me",
        runId: `run-${partition}-${shard}`,
        leaseTtlMs: 30_000,
        now: T0,
        unit: WHOLE,
        ...overrides,
      });
      assert.ok(taken.acquired, `claimed ${partition}/${shard}`);
      return taken.lease;
    };
    const complete = (lease: LeaseHandle, now: number) =>
      opened.store.complete(lease, now, leaseRun(lease, now));
    const split = async (lease: LeaseHandle, at: number, shard: string, now: number) => {
      assert.equal(await backfills.requestSplit(lease, "idle-host:7:ab", now - 1), true);
      await backfills.answerSplit(
        lease,
        { kind: "split", at, shard, requestedBy: "idle-host:7:ab" },
        now,
      );
    };

    it("lists each split with when, where, who asked and which run made it, newest first", async () => {
      const first = await claim("2024-01-01");
      await split(first, 500, "~a", T0 + 10);
      const second = await claim("2024-01-02");
      await split(second, 40, "~b", T0 + 20);
      const all = await opened.store.listSplits();
      assert.deepEqual(all, [
        {
          processor: "daily",
          partition: "2024-01-02",
          shard: "",
          newShard: "~b",
          at: 40,
          requestedBy: "idle-host:7:ab",
          runId: "run-2024-01-02-",
          splitAt: T0 + 20,
        },
        {
          processor: "daily",
          partition: "2024-01-01",
          shard: "",
          newShard: "~a",
          at: 500,
          requestedBy: "idle-host:7:ab",
          runId: "run-2024-01-01-",
          splitAt: T0 + 10,
        },
      ]);
      const newShards = async (filter: Parameters<typeof opened.store.listSplits>[0]) =>
        (await opened.store.listSplits(filter)).map((s) => s.newShard);
      assert.deepEqual(await newShards({ partition: "2024-01-01" }), ["~a"]);
      assert.deepEqual(await newShards({ since: T0 + 15 }), ["~b"]);
      assert.deepEqual(await newShards({ limit: 1 }), ["~b"]);
      assert.deepEqual(await newShards({ processor: "weekly" }), []);
    });

    it("lists the completions of partitions in flight, and the backfills begun", async () => {
      const shard0 = await claim("2024-01-01", "0", {
        unit: { range: { from: null, to: 9 }, layout: "L" },
      });
      await claim("2024-01-01", "1", { unit: { range: { from: 9, to: null }, layout: "L" } });
      await complete(shard0, T0 + 5);
      const elsewhere = await claim("2024-01-02");
      await complete(elsewhere, T0 + 6);
      const completions = await opened.store.listCompletions({ processor: "daily" });
      assert.deepEqual(
        completions.map((c) => [c.partition, c.shard, c.completedAt, c.range, c.layout]),
        [["2024-01-01", "0", T0 + 5, { from: null, to: 9 }, "L"]],
        "only partitions with a checkpoint: 2024-01-02 completed whole",
      );
      assert.deepEqual(await opened.store.listCompletions({ processor: "weekly" }), []);

      const open = (id: string, now: number) =>
        backfills.open({
          processor: "daily",
          id,
          partitions: ["2024-01-01", "2024-01-02"],
          now,
          staleBefore: now - 1000,
          restart: false,
          repeatFinished: false,
        });
      const ancient = await open("ancient", T0 - 1000);
      await backfills.finish(ancient, T0 - 500);
      const older = await open("first", T0 + 100);
      await backfills.finish(older, T0 + 200);
      await open("second", T0 + 300);
      // "ancient" finished before the oldest checkpoint (T0) was made: none of its work is left.
      assert.deepEqual(await opened.store.listBackfills(), [
        { processor: "daily", id: "second", partitions: 2, startedAt: T0 + 300, finishedAt: null },
        {
          processor: "daily",
          id: "first",
          partitions: 2,
          startedAt: T0 + 100,
          finishedAt: T0 + 200,
        },
      ]);
      assert.deepEqual(await opened.store.listBackfills({ processor: "weekly" }), []);
      await opened.store.resetPartition("daily", "2024-01-01", T0 + 60_000);
      assert.deepEqual(
        (await opened.store.listBackfills()).map((b) => b.id),
        ["second"],
        "with no checkpoint left, only the unfinished one can hold work in flight",
      );
    });

    it("a partition's reset deletes every shard's checkpoint and forgets its completions", async () => {
      const whole = await claim("2024-01-01");
      await split(whole, 50, "~rest", T0 + 1);
      await complete(whole, T0 + 2);
      const rest = await claim("2024-01-01", "~rest", { owner: "other", now: T0 + 3 });
      await opened.store.release(rest, T0 + 4);
      const other = await claim("2024-01-02");
      await opened.store.release(other, T0 + 5);

      const done = await opened.store.resetPartition("daily", "2024-01-01", T0 + 6);
      assert.deepEqual(done, {
        outcome: "reset",
        checkpoints: [{ shard: "~rest", completed: 0, total: null }],
        completions: [""],
      });
      const left = await opened.store.listCheckpoints();
      assert.deepEqual(
        left.map((c) => `${c.partition}/${c.shard}`),
        ["2024-01-02/"],
        "another partition keeps its checkpoint",
      );
      assert.equal(await opened.store.lastCompletedAt(checkpointKey("daily", "2024-01-01")), null);
      const again = await opened.store.acquire({
        ...checkpointKey("daily", "2024-01-01"),
        owner: "me",
        runId: "after-reset",
        leaseTtlMs: 30_000,
        now: T0 + 7,
        completedSince: T0,
      });
      assert.equal(again.acquired, true, "a backfill's claim no longer finds it done");
    });

    it("a partition's reset deletes nothing while a runner holds one of its shards", async () => {
      await claim("2024-01-01", "0", { owner: "host:1:aa" });
      const idle = await claim("2024-01-01", "1");
      await opened.store.release(idle, T0 + 1);
      const refused = await opened.store.resetPartition("daily", "2024-01-01", T0 + 2);
      assert.deepEqual(refused, { outcome: "leased", shard: "0", owner: "host:1:aa" });
      assert.equal((await opened.store.listCheckpoints()).length, 2, "both checkpoints kept");
      const expired = await opened.store.resetPartition("daily", "2024-01-01", T0 + 60_000);
      assert.equal(expired.outcome, "reset", "an expired lease holds nothing");
      assert.deepEqual(await opened.store.listCheckpoints(), []);
    });
  });
}
