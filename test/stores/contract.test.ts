import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { FencedError } from "../../src/core/errors.js";
import type { BatchCommit, LeaseHandle, RunRecord } from "../../src/core/store/checkpoint-store.js";
import { type OpenedStore, STORE_FACTORIES } from "./stores.js";

const key = { processor: "players", partition: "2024-01-15", shard: "" };
const T0 = 1_700_000_000_000;

function write(overrides: Partial<BatchCommit> = {}): BatchCommit {
  return {
    kind: "batch",
    processorVersion: 1,
    cursor: 50,
    completed: 50,
    total: 450,
    state: '{"games":3}',
    stateCodec: "json",
    fingerprint: null,
    leaseTtlMs: 30_000,
    now: T0 + 1000,
    ...overrides,
  };
}

function runRecord(overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    ...key,
    runId: "run-1",
    status: "running",
    startedAt: T0,
    finishedAt: null,
    resumedFrom: null,
    processed: 0,
    total: 450,
    batches: 0,
    checkpointMs: 0,
    attempt: 1,
    reason: null,
    error: null,
    ...overrides,
  };
}

for (const factory of STORE_FACTORIES) {
  describe(`store contract: ${factory.name}`, () => {
    let opened: OpenedStore;
    beforeEach(async () => {
      opened = await factory.open();
    });
    afterEach(async () => {
      await opened.cleanup();
    });

    async function acquire(owner: string, now = T0): Promise<LeaseHandle> {
      const result = await opened.store.acquire({
        ...key,
        owner,
        runId: `run-${owner}`,
        leaseTtlMs: 30_000,
        now,
      });
      assert.equal(result.acquired, true, `${owner} should acquire`);
      return (result as { lease: LeaseHandle }).lease;
    }

    it("creates an empty checkpoint on first acquire", async () => {
      const result = await opened.store.acquire({
        ...key,
        owner: "a",
        runId: "r",
        leaseTtlMs: 30_000,
        now: T0,
      });
      if (!result.acquired) assert.fail("the first acquire must succeed");
      assert.equal(result.checkpoint.cursor, null);
      assert.equal(result.checkpoint.completed, 0);
      assert.equal(result.checkpoint.leaseOwner, "a");
      assert.equal(result.checkpoint.leaseExpiresAt, T0 + 30_000);
      assert.equal(result.checkpoint.attempt, 1);
      assert.equal(result.lease.fence, result.checkpoint.fence);
    });

    it("refuses a live lease and reports its holder", async () => {
      await acquire("a");
      const second = await opened.store.acquire({
        ...key,
        owner: "b",
        runId: "r2",
        leaseTtlMs: 30_000,
        now: T0 + 29_999,
      });
      assert.equal(second.acquired, false);
      assert.deepEqual("holder" in second && second.holder, { owner: "a", expiresAt: T0 + 30_000 });
    });

    it("lets another partition proceed while one is leased", async () => {
      await acquire("a");
      const other = await opened.store.acquire({
        processor: key.processor,
        partition: "2024-01-16",
        shard: "",
        owner: "b",
        runId: "r2",
        leaseTtlMs: 30_000,
        now: T0,
      });
      assert.equal(other.acquired, true);
    });

    it("commits cursor, counts and state, and reads them back", async () => {
      const lease = await acquire("a");
      const scope = opened.store.openBatch(lease);
      await scope.commit(write({ cursor: "p-050", fingerprint: "abc" }));
      const stored = await opened.store.getCheckpoint(key);
      assert.equal(stored?.cursor, "p-050");
      assert.equal(stored?.completed, 50);
      assert.equal(stored?.total, 450);
      assert.equal(stored?.state, '{"games":3}');
      assert.equal(stored?.fingerprint, "abc");
      assert.equal(stored?.processorVersion, 1);
      assert.equal(stored?.updatedAt, T0 + 1000);
      assert.equal(stored?.leaseExpiresAt, T0 + 31_000);
    });

    it("keeps number and string cursors apart", async () => {
      const lease = await acquire("a");
      await opened.store.openBatch(lease).commit(write({ cursor: "50" }));
      assert.equal((await opened.store.getCheckpoint(key))?.cursor, "50");
      await opened.store.openBatch(lease).commit(write({ cursor: 51 }));
      assert.equal((await opened.store.getCheckpoint(key))?.cursor, 51);
    });

    it("applies tx writes with the commit and drops them on rollback", async () => {
      const lease = await acquire("a");
      const failed = opened.store.openBatch(lease);
      await opened.writeEffect(failed.tx, "x");
      await failed.rollback();
      const ok = opened.store.openBatch(lease);
      await opened.writeEffect(ok.tx, "y");
      await ok.commit(write());
      assert.deepEqual([...(await opened.effects())], [["y", 1]]);
    });

    it("records the failure ledger with the commit, accumulates attempts, clears by cursor", async () => {
      const lease = await acquire("a");
      await opened.store.openBatch(lease).commit(
        write({
          cursor: 50,
          failures: [
            { cursor: 7, error: "Error: poison", attempts: 2 },
            { cursor: "7", error: "Error: string id", attempts: 1 },
          ],
        }),
      );
      await opened.store.openBatch(lease).commit(
        write({
          cursor: 60,
          now: T0 + 2000,
          failures: [{ cursor: 7, error: "Error: still poison", attempts: 3 }],
        }),
      );
      const other = { processor: "players", partition: "2024-01-16", shard: "" };
      const otherLease = (await opened.store.acquire({
        ...other,
        owner: "b",
        runId: "run-b",
        leaseTtlMs: 30_000,
        now: T0,
      })) as { lease: LeaseHandle };
      await opened.store
        .openBatch(otherLease.lease)
        .commit(write({ failures: [{ cursor: 1, error: "x", attempts: 1 }] }));
      const ledger = await opened.store.listFailures({
        processor: "players",
        partition: key.partition,
      });
      assert.deepEqual(
        ledger.map((f) => [
          f.cursor,
          f.error,
          f.attempts,
          f.firstFailedAt,
          f.lastFailedAt,
          f.runId,
        ]),
        [
          ["7", "Error: string id", 1, T0 + 1000, T0 + 1000, "run-a"],
          [7, "Error: still poison", 5, T0 + 1000, T0 + 2000, "run-a"],
        ],
      );
      assert.equal((await opened.store.listFailures()).length, 3);
      await opened.store.openBatch(lease).commit(write({ cursor: 60, resolvedFailures: [7, 8] }));
      assert.deepEqual(
        (await opened.store.listFailures({ partition: key.partition })).map((f) => f.cursor),
        ["7"],
      );
      await opened.store.openBatch(lease).commit(write({ cursor: 60, resolvedFailures: ["7"] }));
      assert.deepEqual(await opened.store.listFailures({ partition: key.partition }), []);
    });

    it("writes no ledger entries from a fenced commit", async () => {
      const old = await acquire("a");
      await acquire("b", T0 + 31_001);
      await assert.rejects(
        opened.store
          .openBatch(old)
          .commit(write({ failures: [{ cursor: 9, error: "x", attempts: 1 }] })),
        FencedError,
      );
      assert.deepEqual(await opened.store.listFailures(), []);
    });

    it("commits a null cursor for a checkpoint with no progress yet", async () => {
      const lease = await acquire("a");
      await opened.store
        .openBatch(lease)
        .commit(write({ cursor: null, completed: 0, state: null }));
      const stored = await opened.store.getCheckpoint(key);
      assert.equal(stored?.cursor, null);
      assert.equal(stored?.completed, 0);
    });

    it("takes over an expired lease with a higher fence and fences the old owner", async () => {
      const old = await acquire("a");
      await opened.store.openBatch(old).commit(write());
      const taker = await acquire("b", T0 + 31_001 + 1000);
      assert.ok(taker.fence > old.fence);
      const stale = opened.store.openBatch(old);
      await opened.writeEffect(stale.tx, "zombie");
      await assert.rejects(stale.commit(write({ cursor: 100, completed: 100 })), FencedError);
      await assert.rejects(opened.store.renew(old, 30_000, T0), { code: "FENCED" });
      await assert.rejects(
        opened.store.complete(old, T0, runRecord({ runId: old.runId, status: "completed" })),
        FencedError,
      );
      const stored = await opened.store.getCheckpoint(key);
      assert.equal(stored?.cursor, 50, "the fenced commit left the checkpoint alone");
      assert.equal(stored?.attempt, 2);
      assert.equal((await opened.effects()).has("zombie"), false);
    });

    it("says whose expired lease it took over, and nothing for a released or new one", async () => {
      const take = (owner: string, now: number) =>
        opened.store.acquire({ ...key, owner, runId: `run-${owner}`, leaseTtlMs: 30_000, now });
      const first = await take("a", T0);
      assert.ok(first.acquired);
      assert.equal(first.expiredHolder, undefined, "a new checkpoint had no holder");
      const died = await take("b", T0 + 31_001);
      assert.ok(died.acquired);
      assert.deepEqual(died.expiredHolder, { owner: "a", runId: "run-a" });
      await opened.store.release(died.lease, T0 + 32_000);
      const released = await take("c", T0 + 33_000);
      assert.ok(released.acquired);
      assert.equal(released.expiredHolder, undefined, "a released lease was no one's");
    });

    it("renews a held lease", async () => {
      const lease = await acquire("a");
      await opened.store.renew(lease, 60_000, T0 + 10_000);
      assert.equal((await opened.store.getCheckpoint(key))?.leaseExpiresAt, T0 + 70_000);
    });

    it("release keeps progress and frees the lease at once", async () => {
      const lease = await acquire("a");
      await opened.store.openBatch(lease).commit(write());
      await opened.store.release(lease, T0 + 2000);
      const stored = await opened.store.getCheckpoint(key);
      assert.equal(stored?.cursor, 50);
      assert.equal(stored?.leaseOwner, null);
      await acquire("b", T0 + 2001);
      await opened.store.release(lease, T0 + 2002); // a lost lease is no error
      assert.equal((await opened.store.getCheckpoint(key))?.leaseOwner, "b");
    });

    it("complete clears the checkpoint and remembers the completion, its run and its history", async () => {
      assert.equal(await opened.store.lastCompletedAt(key), null);
      const lease = await acquire("a");
      await opened.store.recordRun(runRecord({ runId: lease.runId }));
      await opened.store.openBatch(lease).commit(write());
      assert.deepEqual(
        await opened.store.readBack(key).then((b) => [b.checkpoint?.cursor, b.completedBy]),
        [50, null],
      );
      const done = runRecord({ runId: lease.runId, status: "completed", processed: 50 });
      await opened.store.complete(lease, T0 + 5000, { ...done, finishedAt: T0 + 5000 });
      assert.equal(await opened.store.getCheckpoint(key), null);
      assert.equal(await opened.store.lastCompletedAt(key), T0 + 5000);
      assert.deepEqual(await opened.store.readBack(key), {
        checkpoint: null,
        completedBy: lease.runId,
      });
      const [row] = await opened.store.listRuns({ processor: key.processor });
      assert.equal(row?.status, "completed");
      assert.equal(row?.processed, 50);
      // A later report of the same run that could not learn its completion landed changes nothing.
      await opened.store.recordRun({ ...done, status: "failed", error: "connection lost" });
      const [after] = await opened.store.listRuns({ processor: key.processor });
      assert.equal(after?.status, "completed");
      assert.equal(after?.error, null);
    });

    it("records, replaces and filters run history", async () => {
      await opened.store.recordRun(runRecord());
      await opened.store.recordRun(
        runRecord({ status: "failed", finishedAt: T0 + 10, processed: 300, error: "quota" }),
      );
      await opened.store.recordRun(
        runRecord({ runId: "run-2", startedAt: T0 + 100, status: "completed", resumedFrom: 300 }),
      );
      await opened.store.recordRun(
        runRecord({ runId: "run-3", processor: "other", startedAt: T0 + 200, status: "busy" }),
      );
      const all = await opened.store.listRuns();
      assert.deepEqual(
        all.map((r) => r.runId),
        ["run-3", "run-2", "run-1"],
      );
      const failed = await opened.store.listRuns({ status: "failed" });
      assert.equal(failed.length, 1);
      assert.equal(failed[0]?.processed, 300);
      assert.equal(failed[0]?.error, "quota");
      assert.equal((await opened.store.listRuns({ processor: "other" })).length, 1);
      assert.equal((await opened.store.listRuns({ since: T0 + 100 })).length, 2);
      assert.equal((await opened.store.listRuns({ limit: 1 }))[0]?.runId, "run-3");
    });

    it("lists each checkpoint's current run, whatever its status, in one call", async () => {
      const lease = await acquire("a");
      await opened.store.recordRun(runRecord({ runId: lease.runId, status: "failed" }));
      await opened.store.recordRun(runRecord({ runId: "older", startedAt: T0 - 10 }));
      await opened.store.recordRun(runRecord({ runId: "elsewhere", processor: "other" }));
      const current = await opened.store.listCurrentRuns();
      assert.deepEqual(
        current.map((r) => [r.runId, r.status]),
        [[lease.runId, "failed"]],
      );
      assert.deepEqual(await opened.store.listCurrentRuns({ processor: "other" }), []);
    });

    it("keeps shards apart from partitions whose names contain #", async () => {
      const keys = [
        { processor: "p", partition: "d#0", shard: "" },
        { processor: "p", partition: "d", shard: "0" },
        { processor: "p", partition: "d", shard: "" },
      ];
      for (const [i, k] of keys.entries()) {
        const taken = await opened.store.acquire({
          ...k,
          owner: `o${i}`,
          runId: `r${i}`,
          leaseTtlMs: 30_000,
          now: T0,
        });
        assert.ok(taken.acquired, `each key has its own lease: ${JSON.stringify(k)}`);
        await opened.store
          .openBatch(taken.lease)
          .commit(write({ cursor: i + 1, failures: [{ cursor: 1, error: "x", attempts: 1 }] }));
        await opened.store.recordRun(runRecord({ ...k, runId: `r${i}`, startedAt: T0 + i }));
      }
      for (const [i, k] of keys.entries()) {
        const stored = await opened.store.getCheckpoint(k);
        assert.deepEqual(
          [stored?.partition, stored?.shard, stored?.cursor],
          [k.partition, k.shard, i + 1],
        );
      }
      assert.deepEqual(
        (await opened.store.listFailures({ partition: "d", shard: "0" })).map((f) => f.shard),
        ["0"],
      );
      assert.equal((await opened.store.listFailures({ partition: "d" })).length, 2);
      assert.deepEqual(
        (await opened.store.listRuns({ partition: "d", shard: "" })).map((r) => r.runId),
        ["r2"],
      );
      assert.equal(await opened.store.deleteCheckpoint(keys[1] as (typeof keys)[1]), true);
      assert.equal((await opened.store.listCheckpoints()).length, 2);
    });

    it("release can discard a checkpoint that never committed a cursor", async () => {
      const lease = await acquire("a");
      await opened.store.release(lease, T0 + 1, { discardEmpty: true });
      assert.equal(await opened.store.getCheckpoint(key), null);
      const again = await acquire("b", T0 + 2);
      await opened.store.openBatch(again).commit(write());
      await opened.store.release(again, T0 + 3, { discardEmpty: true });
      assert.equal((await opened.store.getCheckpoint(key))?.cursor, 50, "progress is kept");
    });

    it("deleteCheckpoint spares a live lease when asked to", async () => {
      await acquire("a");
      assert.equal(await opened.store.deleteCheckpoint(key, { unlessLeasedAt: T0 + 1 }), false);
      assert.equal(await opened.store.deleteCheckpoint(key, { unlessLeasedAt: T0 + 30_001 }), true);
      assert.equal(await opened.store.getCheckpoint(key), null);
      assert.equal(await opened.store.deleteCheckpoint(key), false);
    });

    it("treats hostile names as data", async () => {
      const hostile = {
        processor: `o'brien"; DROP TABLE x; --`,
        partition: "'); DELETE --",
        shard: "",
      };
      const result = await opened.store.acquire({
        ...hostile,
        owner: "a",
        runId: "r",
        leaseTtlMs: 1000,
        now: T0,
      });
      assert.ok(result.acquired);
      const listed = await opened.store.listCheckpoints({ processor: hostile.processor });
      assert.equal(listed[0]?.partition, hostile.partition);
    });
  });
}
