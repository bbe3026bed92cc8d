// What the processor says about its input is checked the same way on every store: a count()
// that lies, a partition name with `#` in it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defineProcessor } from "../../src/core/processor.js";
import { run } from "../../src/core/run.js";
import { resetCheckpoint } from "../../src/reports/actions.js";
import { loadStatus } from "../../src/reports/load.js";
import { captureLogger } from "../support/logger.js";
import { until } from "../support/time.js";
import { historyOf, onEveryStore, resultOf } from "./compare.js";

const IDS = Array.from({ length: 10 }, (_, i) => i + 1);

describe("counts are checked on every store", { timeout: 120_000 }, () => {
  it("a count below the truth grows to the entities seen, with one warning, never past 100%", async () => {
    const seen = await onEveryStore(async (opened) => {
      const { logger, lines } = captureLogger();
      const percents: number[] = [];
      const result = await run(
        defineProcessor<number>({
          name: "undercounted",
          batchSize: 2,
          entities: () => IDS,
          id: (n) => n,
          count: () => 3,
          processBatch() {},
        }),
        {
          store: opened.store,
          logger,
          progressEveryMs: 0,
          onProgress: (p) => percents.push((p.completed / (p.total ?? 1)) * 100),
        },
      );
      return {
        result: resultOf(result),
        warnings: lines.filter((l) => /more entities than count\(\) said \(3\)/.test(l)).length,
        over100: percents.filter((p) => p > 100).length,
        linePercents: lines
          .flatMap((l) => /Progress: .*\(([\d.]+)%\)/.exec(l)?.[1] ?? [])
          .map(Number),
        history: await historyOf(opened.store),
      };
    });
    assert.equal(seen.result.status, "completed");
    assert.equal(seen.result.total, 10);
    assert.equal(seen.warnings, 1);
    assert.equal(seen.over100, 0);
    assert.ok(seen.linePercents.length > 0);
    assert.ok(
      seen.linePercents.every((p) => p <= 100),
      `no progress line shows more than 100%: ${seen.linePercents}`,
    );
    assert.equal(seen.history[0]?.total, 10, "history records the true total");
  });

  it("a total grown past count() is no input drift: the next run resumes", async () => {
    const seen = await onEveryStore(async (opened) => {
      const undercounted = defineProcessor<number>({
        name: "undercounted",
        batchSize: 2,
        entities: ({ after }) => IDS.filter((n) => after === null || n > (after as number)),
        id: (n) => n,
        count: () => 3,
        processBatch() {},
      });
      const controller = new AbortController();
      const first = await run(undercounted, {
        store: opened.store,
        logger: false,
        signal: controller.signal,
        onProgress: (p) => p.completed >= 6 && controller.abort(),
      });
      const second = await run(undercounted, { store: opened.store, logger: false });
      return { first: resultOf(first), second: resultOf(second) };
    });
    assert.deepEqual([seen.first.status, seen.first.total], ["suspended", 6]);
    assert.deepEqual([seen.second.status, seen.second.resumedFrom], ["completed", 6]);
  });

  for (const bad of [Number.NaN, -5, 2.5, "7", Number.MAX_SAFE_INTEGER + 2]) {
    it(`count() returning ${String(bad)} fails the run before its first batch`, async () => {
      const seen = await onEveryStore(async (opened) => {
        let calls = 0;
        const result = await run(
          defineProcessor<number>({
            name: "miscounted",
            entities: () => IDS,
            id: (n) => n,
            count: () => bad as number,
            processBatch() {
              calls++;
            },
          }),
          { store: opened.store, logger: false },
        );
        return {
          result: resultOf(result),
          message: result.error?.message.includes("count() of miscounted/default returned"),
          calls,
          checkpoints: (await opened.store.listCheckpoints()).map((c) => c.cursor),
          history: await historyOf(opened.store),
        };
      });
      assert.equal(seen.result.status, "failed");
      assert.equal(seen.result.error, "INVALID_OPTION");
      assert.equal(seen.message, true);
      assert.equal(seen.calls, 0);
      assert.deepEqual(seen.checkpoints, [null], "nothing was committed");
    });
  }
});

describe("partition names are data on every store", { timeout: 120_000 }, () => {
  it("a partition named like an old shard key is its own checkpoint, apart from the shard", async () => {
    const seen = await onEveryStore(async (opened) => {
      const stop = (at: number) => {
        const controller = new AbortController();
        return {
          controller,
          onProgress: (p: { completed: number }) => p.completed >= at && controller.abort(),
        };
      };
      const plain = defineProcessor<number>({
        name: "tickets",
        batchSize: 2,
        entities: ({ after }) => IDS.filter((n) => after === null || n > (after as number)),
        id: (n) => n,
        processBatch() {},
      });
      const sharded = defineProcessor<number>({
        ...plain,
        shards: () => [
          { id: 0, to: 5 },
          { id: 1, from: 5 },
        ],
      });
      const results = [];
      for (const [processor, partition, shard, at] of [
        [plain, "ticket#42", undefined, 2],
        [plain, "d#0", undefined, 4],
        [sharded, "d", 0, 2],
      ] as const) {
        const { controller, onProgress } = stop(at);
        const result = await run(processor, {
          store: opened.store,
          partition,
          ...(shard === undefined ? {} : { shard }),
          logger: false,
          signal: controller.signal,
          onProgress,
        });
        results.push(resultOf(result));
        // History lists runs by start time; runs started in the same millisecond come in an
        // order each store breaks as it likes.
        const ranAt = Date.now();
        await until("the next millisecond", () => Date.now() > ranAt, { intervalMs: 1 });
      }
      const status = await loadStatus(opened.store);
      // A partition is addressed by its name as status shows it; a shard by partition and id.
      const reset = [
        await resetCheckpoint(
          opened.store,
          { processor: "tickets", partition: "d#0", shard: "" },
          Date.now(),
        ),
        await resetCheckpoint(
          opened.store,
          { processor: "tickets", partition: "d", shard: "0" },
          Date.now(),
        ),
      ];
      const left = (await loadStatus(opened.store)).map((r) => r.partition);
      return {
        results,
        reset,
        left,
        status: status.map((r) => ({
          partition: r.partition,
          shard: r.shard,
          completed: r.completed,
          shards: r.shards?.map((s) => [s.shard, s.completed]) ?? null,
        })),
        history: await historyOf(opened.store),
      };
    });
    assert.deepEqual(
      seen.results.map((r) => [r.status, r.completed]),
      [
        ["suspended", 2],
        ["suspended", 4],
        ["suspended", 2],
      ],
    );
    const byPartition = Object.fromEntries(seen.status.map((r) => [r.partition, r]));
    assert.deepEqual(byPartition["ticket#42"], {
      partition: "ticket#42",
      shard: "",
      completed: 2,
      shards: null,
    });
    assert.deepEqual(byPartition["d#0"], {
      partition: "d#0",
      shard: "",
      completed: 4,
      shards: null,
    });
    assert.deepEqual(byPartition.d, {
      partition: "d",
      shard: "",
      completed: 2,
      shards: [["0", 2]],
    });
    assert.deepEqual(seen.reset, ["deleted", "deleted"]);
    assert.deepEqual(seen.left, ["ticket#42"], "each reset removed its own checkpoint only");
    assert.deepEqual(
      seen.history.map((h) => [h.partition, h.shard]),
      [
        ["ticket#42", ""],
        ["d#0", ""],
        ["d", "0"],
      ],
    );
  });
});
