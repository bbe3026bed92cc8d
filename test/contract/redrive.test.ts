// Redrive goes through the run's batch execution on every store: it hands lookup and ctx the
// real partition (and shard), logs through the caller's logger, and leaves the checkpoint
// exactly as it was, its age included.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defineProcessor } from "../../src/core/processor.js";
import { redrive } from "../../src/core/redrive.js";
import { run } from "../../src/core/run.js";
import type { Shard } from "../../src/core/shards.js";
import type { OpenedStore } from "../stores/stores.js";
import { captureLogger } from "../support/logger.js";
import { noBackoff } from "../support/time.js";
import { effectsOf, errorKind, historyOf, ledgerOf, onEveryStore, resultOf } from "./compare.js";

const T0 = 1_700_000_000_000;
const IDS = Array.from({ length: 15 }, (_, i) => i + 1);

/** Entities 1-15 in batches of five; entity 7 fails while `broken.now` is true. */
function flaky(opened: OpenedStore, broken: { now: boolean }, seen: unknown[], shards?: Shard[]) {
  return defineProcessor<number>({
    name: "flaky",
    batchSize: 5,
    expiryMs: 60_000,
    retry: false,
    skip: { limit: 3 },
    entities: ({ after }) => IDS.filter((n) => after === null || n > (after as number)),
    id: (n) => n,
    lookup: (ids, args) => {
      seen.push({ lookup: ids, partition: args.partition, shard: args.shard?.id ?? null });
      return IDS.filter((n) => ids.includes(n));
    },
    ...(shards ? { shards: () => shards } : {}),
    async processBatch(batch, ctx) {
      if (batch.length === 1) seen.push({ partition: ctx.partition, shard: ctx.shard?.id ?? null });
      if (broken.now && batch.includes(7)) throw new Error("entity 7 is broken");
      for (const n of batch) await opened.writeEffect(ctx.tx, `e-${n}`);
    },
  });
}

describe("redrive through the run's execution, on every store", { timeout: 120_000 }, () => {
  it("leaves an expired checkpoint expired: the next run starts over", async () => {
    const seen = await onEveryStore(async (opened) => {
      const broken = { now: true };
      const calls: unknown[] = [];
      const processor = flaky(opened, broken, calls);
      const stop = new AbortController();
      const first = await run(processor, {
        store: opened.store,
        partition: "2024-01-15",
        logger: false,
        now: () => T0,
        signal: stop.signal,
        onProgress: (p) => p.completed >= 10 && stop.abort(),
      });
      const before = (await opened.store.listCheckpoints())[0];
      broken.now = false;
      const { logger, lines } = captureLogger();
      const redriven = await redrive(processor, {
        store: opened.store,
        partition: "2024-01-15",
        logger,
        now: () => T0 + 120_000,
        sleep: noBackoff,
      });
      const after = (await opened.store.listCheckpoints())[0];
      const next = await run(processor, {
        store: opened.store,
        partition: "2024-01-15",
        logger: false,
        now: () => T0 + 121_000,
      });
      const { runId, ...redrivenWithoutId } = redriven;
      const recorded = await opened.store.listRuns({ runId });
      return {
        first: resultOf(first),
        redriven: redrivenWithoutId,
        recorded: recorded.map((r) => [r.kind, r.status, r.attempt, r.processed]),
        kept: [
          after?.cursor,
          after?.completed,
          after?.state,
          after?.updatedAt === before?.updatedAt,
        ],
        age: (after?.updatedAt ?? 0) - T0,
        next: resultOf(next),
        calls,
        logged: lines.some((l) => /Redrive of flaky\/2024-01-15: 1 fixed/.test(l)),
        ledger: await ledgerOf(opened.store),
        effects: await effectsOf(opened),
        history: await historyOf(opened.store),
      };
    });
    assert.equal(seen.first.status, "suspended");
    assert.equal(seen.first.skipped, 1);
    assert.deepEqual(seen.redriven, {
      status: "completed",
      fixed: [7],
      stillFailing: [],
      notFound: [],
    });
    assert.deepEqual(seen.kept, [10, 10, null, true], "cursor, counts, state and age untouched");
    assert.equal(seen.age, 0, "the checkpoint is as old as its last commit");
    assert.equal(seen.next.resumedFrom, null, "expired: the next run started over");
    assert.equal(seen.next.status, "completed");
    assert.equal(seen.logged, true, "the redrive logged through the caller's logger");
    assert.deepEqual(seen.ledger, []);
    assert.deepEqual(
      seen.recorded,
      [["redrive", "completed", 1, 1]],
      "the redrive's id is in history, as a redrive that counted no attempt",
    );
    assert.deepEqual(
      seen.history.map((h) => [h.kind, h.status, h.resumedFrom, h.attempt]),
      [
        ["run", "suspended", null, 1],
        ["redrive", "completed", null, 1],
        ["run", "completed", null, 2],
      ],
      "a redrive is recorded as one of its own kind and resumes nothing",
    );
  });

  it("redrives one shard's ledger with the real partition and the shard", async () => {
    const shards: Shard[] = [
      { id: 0, to: 5 },
      { id: 1, from: 5 },
    ];
    const seen = await onEveryStore(async (opened) => {
      const broken = { now: true };
      const calls: unknown[] = [];
      const processor = flaky(opened, broken, calls, shards);
      const runs = [];
      for (const shard of [0, 1]) {
        runs.push(
          resultOf(
            await run(processor, { store: opened.store, partition: "p", shard, logger: false }),
          ),
        );
      }
      const ledgerBefore = await ledgerOf(opened.store);
      broken.now = false;
      const whole = await redrive(processor, {
        store: opened.store,
        partition: "p",
        logger: false,
      }).then(
        () => null,
        (error: unknown) => errorKind(error),
      );
      const other = await redrive(processor, {
        store: opened.store,
        partition: "p",
        shard: 0,
        logger: false,
      });
      const mine = await redrive(processor, {
        store: opened.store,
        partition: "p",
        shard: 1,
        logger: false,
      });
      return {
        runs,
        ledgerBefore,
        whole,
        other: { ...other, runId: typeof other.runId },
        mine: { ...mine, runId: typeof mine.runId },
        calls: calls
          .filter((c) => (c as { lookup?: unknown }).lookup !== undefined || calls.indexOf(c) >= 0)
          .slice(-2),
        ledger: await ledgerOf(opened.store),
        checkpoints: (await opened.store.listCheckpoints()).length,
        history: await historyOf(opened.store),
      };
    });
    assert.deepEqual(
      seen.runs.map((r) => [r.status, r.skipped]),
      [
        ["completed", 0],
        ["completed", 1],
      ],
    );
    assert.deepEqual(seen.ledgerBefore, [{ partition: "p", shard: "1", cursor: 7, attempts: 4 }]);
    assert.equal(seen.whole, "INVALID_OPTION", "a sharded processor's redrive names its shard");
    assert.deepEqual(seen.other.fixed, [], "shard 0 has nothing in its ledger");
    assert.deepEqual(seen.mine.fixed, [7]);
    assert.deepEqual(seen.calls, [
      { lookup: [7], partition: "p", shard: 1 },
      { partition: "p", shard: 1 },
    ]);
    assert.deepEqual(seen.ledger, []);
    assert.equal(seen.checkpoints, 0, "the redrive left no checkpoint behind");
    assert.deepEqual(
      seen.history.map((h) => [h.kind, h.partition, h.shard, h.status, h.processed]),
      [
        ["run", "p", "0", "completed", 5],
        ["run", "p", "1", "completed", 9],
        ["redrive", "p", "1", "completed", 1],
      ],
      "one row per shard's run, and the redrive of shard 1; shard 0's ledger was empty",
    );
  });
});
