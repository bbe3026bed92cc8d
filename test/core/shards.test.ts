import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { findShard, listShards, type Shard } from "../../src/core/shards.js";
import { defineProcessor, run } from "../../src/index.js";
import { loadStatus } from "../../src/reports/load.js";
import { splitLegacyShardKey } from "../../src/stores/legacy-shard-key.js";
import { type OpenedStore, STORE_FACTORIES } from "../stores/stores.js";

const IDS = Array.from({ length: 100 }, (_, i) => i + 1);
const SHARDS: Shard[] = [
  { id: 0, to: 50 },
  { id: 1, from: 50 },
];

for (const factory of STORE_FACTORIES) {
  describe(`shards on ${factory.name}`, () => {
    let opened: OpenedStore;
    beforeEach(async () => {
      opened = await factory.open();
    });
    afterEach(async () => {
      await opened.cleanup();
    });

    /** Yields every id after `after`, ignoring the shard's end: the runner must stop at `to`. */
    function sharded(seen: unknown[] = []) {
      return defineProcessor<number>({
        name: "sharded",
        shards: () => SHARDS,
        batchSize: 10,
        retry: false,
        entities: (args) => {
          seen.push(args);
          return IDS.filter((n) => args.after === null || n > (args.after as number));
        },
        id: (n) => n,
        count: () => 50,
        async processBatch(batch, ctx) {
          assert.equal(ctx.partition, "2024-01-15", "processBatch sees the real partition");
          const shard = SHARDS.find((s) => s.id === ctx.shard?.id);
          assert.deepEqual(ctx.shard, shard, "and its shard");
          for (const n of batch) await opened.writeEffect(ctx.tx, `${ctx.partition}/${n}`);
        },
      });
    }

    it("runs each shard on its own checkpoint key and covers the partition exactly once", async () => {
      const seen: unknown[] = [];
      const processor = sharded(seen);
      for (const shard of SHARDS) {
        const result = await run(processor, {
          store: opened.store,
          partition: "2024-01-15",
          shard: shard.id,
          logger: false,
        });
        assert.equal(result.status, "completed");
        assert.equal(result.processed, 50, `shard ${shard.id} stops at its own range`);
      }
      const effects = await opened.effects();
      assert.equal(effects.size, 100);
      assert.deepEqual(
        [...effects.values()].filter((n) => n !== 1),
        [],
      );
      assert.deepEqual(
        seen.map((a) => {
          const { partition, after, shard } = a as Record<string, unknown>;
          return { partition, after, shard };
        }),
        [
          { partition: "2024-01-15", after: null, shard: SHARDS[0] },
          // Shard 0's source went past 50: the first id after 50 is checked to be 51 there too.
          { partition: "2024-01-15", after: 50, shard: { id: "0", from: 50 } },
          { partition: "2024-01-15", after: 50, shard: SHARDS[1] },
        ],
      );
      for (const shard of ["0", "1"]) {
        const completed = await opened.store.lastCompletedAt({
          processor: "sharded",
          partition: "2024-01-15",
          shard,
        });
        assert.notEqual(completed, null, `shard ${shard} completed under its own key`);
      }
    });

    it("refuses to run a sharded processor on the whole partition", async () => {
      await assert.rejects(
        run(sharded(), { store: opened.store, partition: "2024-01-15", logger: false }),
        (error: Error & { option?: string }) =>
          error.option === "shard" && /into shards 0, 1: pass shard/.test(error.message),
      );
      await assert.rejects(
        run(sharded(), { store: opened.store, partition: "2024-01-15", shard: 9, logger: false }),
        /has no shard 9 for partition "2024-01-15"/,
      );
    });

    it("resumes a suspended shard inside its range, and status rolls shards up", async () => {
      const processor = sharded();
      for (const shard of SHARDS) {
        const stop = new AbortController();
        let batches = 0;
        const result = await run(processor, {
          store: opened.store,
          partition: "2024-01-15",
          shard: shard.id,
          logger: false,
          signal: stop.signal,
          onProgress: () => {
            if (++batches === 2) stop.abort();
          },
        });
        assert.equal(result.status, "suspended");
      }
      const rows = await loadStatus(opened.store, { processor: "sharded" });
      assert.equal(rows.length, 1, "one row for the sharded partition");
      assert.equal(rows[0]?.partition, "2024-01-15");
      assert.deepEqual(
        rows[0]?.shards?.map((s) => [s.shard, s.completed, s.total]),
        [
          ["0", 20, 50],
          ["1", 20, 50],
        ],
      );
      assert.equal(rows[0]?.completed, 40);
      assert.equal(rows[0]?.total, 100);

      const resumed = await run(processor, {
        store: opened.store,
        partition: "2024-01-15",
        shard: 1,
        logger: false,
      });
      assert.equal(resumed.status, "completed");
      assert.equal(resumed.processed, 30, "shard 1 resumed after 70 and stopped at 100");
      const effects = await opened.effects();
      assert.deepEqual(
        [...effects.values()].filter((n) => n !== 1),
        [],
      );
    });
  });
}

describe("shard definitions", () => {
  const base = defineProcessor<number>({
    name: "p",
    entities: () => [],
    id: (n) => n,
    processBatch() {},
  });

  it("refuses empty, duplicate and malformed shard lists with the option named", async () => {
    const cases: Array<[unknown, RegExp]> = [
      [[], /non-empty array/],
      [[{ id: 0 }, { id: 0 }], /shard id 0 twice/],
      [[{ id: "a b" }], /shard with id "a b"/],
    ];
    for (const [shards, message] of cases) {
      await assert.rejects(
        listShards({ ...base, shards: () => shards as Shard[] }, "x"),
        (error: Error & { option?: string }) =>
          error.option === "shards" && message.test(error.message),
      );
    }
    await assert.rejects(
      findShard({ ...base, shards: () => SHARDS }, "x", 7),
      /has no shard 7 for partition "x"; its shards are 0, 1/,
    );
    await assert.rejects(findShard(base, "x", 0), /defines no shards/);
  });

  it("refuses shards that would process ids twice or never, naming the shards", async () => {
    const cases: Array<[Shard[], RegExp]> = [
      [
        [
          { id: 0, to: 6 },
          { id: 1, from: 2 },
        ],
        /shard 0 runs up to 6 and shard 1 starts after 2: the ids between would be processed twice/,
      ],
      [[{ id: 0 }, { id: 1, from: 2 }], /shard 0 runs up to the end and shard 1 starts after 2/],
      [[{ id: 0 }, { id: 1 }], /shard 0 and shard 1 both start at the partition's start/],
      [
        [
          { id: 0, to: 3 },
          { id: 1, from: 6 },
        ],
        /shard 0 ends at 3 and shard 1 starts after 6: the ids between would never run/,
      ],
      [[{ id: 0, from: 6, to: 2 }], /shard 0 is ids after 6 up to 2, which is empty/],
      [
        [{ id: 0, from: 1 }],
        /no shard starts at the partition's start, so ids up to 1 would never run/,
      ],
      [[{ id: 0, to: 9 }], /no shard reaches the partition's end, so ids after 9 would never run/],
      [
        [
          { id: 0, to: "5" },
          { id: 1, from: 5 },
        ],
        /mix numbers and strings/,
      ],
      [
        [
          { id: 0, to: Number.NaN },
          { id: 1, from: Number.NaN },
        ],
        /a shard bound is NaN/,
      ],
    ];
    for (const [shards, message] of cases) {
      await assert.rejects(
        listShards({ ...base, shards: () => shards }, "x"),
        (error: Error & { option?: string }) =>
          error.option === "shards" && message.test(error.message),
        `${JSON.stringify(shards)} should be refused with ${message}`,
      );
    }
    // Any order is fine as long as the ranges tile the space.
    const tiled: Shard[] = [
      { id: "c", from: "m" },
      { id: "a", to: "f" },
      { id: "b", from: "f", to: "m" },
    ];
    assert.deepEqual(await listShards({ ...base, shards: () => tiled }, "x"), tiled);
  });

  it("splits old partition#id keys by the documented rule only", () => {
    const cases: Array<[string, string, string]> = [
      ["2024-01-15#3", "2024-01-15", "3"],
      ["a#b#c.d-e_f", "a#b", "c.d-e_f"],
      ["2024-01-15", "2024-01-15", ""],
      ["#3", "#3", ""],
      ["a#", "a#", ""],
      ["x#y z", "x#y z", ""],
      [`p#${"9".repeat(65)}`, `p#${"9".repeat(65)}`, ""],
    ];
    for (const [key, partition, shard] of cases) {
      assert.deepEqual(splitLegacyShardKey(key), { partition, shard }, key);
    }
  });
});
