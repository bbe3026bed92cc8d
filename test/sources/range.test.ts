import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  days,
  defineProcessor,
  fromRange,
  InvalidOptionError,
  MemoryStore,
  run,
} from "../../src/index.js";
import { seeded } from "../support/random.js";

describe("fromRange", () => {
  it("yields every integer exactly once, in order, across random stop/resume points", async () => {
    const random = seeded(13);
    for (const step of [1, 3]) {
      const store = new MemoryStore();
      const seen: number[] = [];
      let stopAt = 0;
      const processor = defineProcessor({
        name: `range-${step}`,
        batchSize: 7,
        retry: false,
        ...fromRange({ from: -20, to: 200, step }),
        processBatch(batch) {
          if (batch.some((n) => n >= stopAt)) throw new Error(`stop at ${stopAt}`);
          seen.push(...batch);
        },
      });
      let runs = 0;
      for (;;) {
        stopAt = random() < 0.8 ? -20 + Math.floor(random() * 230) : Number.POSITIVE_INFINITY;
        const result = await run(processor, { store, partition: "p", logger: false });
        runs++;
        assert.equal(result.total, Math.floor(220 / step) + 1, "the count is known");
        if (result.status === "completed") break;
        assert.equal(result.status, "failed");
      }
      const expected = Array.from({ length: Math.floor(220 / step) + 1 }, (_, i) => -20 + i * step);
      assert.deepEqual(seen, expected, `step ${step}: exactly once, in order, over ${runs} runs`);
      assert.ok(runs > 2, "the seed stops the runs several times");
    }
  });

  it("resumes after the cursor without producing the integers before it", async () => {
    const source = fromRange({ from: 1, to: 10, step: 4 });
    const values = async (after: number | null) => [
      ...((await source.entities({ partition: "p", after })) as Iterable<number>),
    ];
    assert.deepEqual(await values(null), [1, 5, 9]);
    assert.deepEqual(await values(1), [5, 9]);
    assert.deepEqual(await values(4), [5, 9]);
    assert.deepEqual(await values(9), []);
    assert.deepEqual(await values(-100), [1, 5, 9]);
    assert.equal(await source.count?.({ partition: "p" }), 3);
    assert.deepEqual(
      [
        ...((await fromRange({ from: 5, to: 4 }).entities({
          partition: "p",
          after: null,
        })) as Iterable<number>),
      ],
      [],
    );
  });

  it("takes its bounds from the partition, and a shard reads only its own slice", async () => {
    const store = new MemoryStore();
    const seen = new Map<string, number[]>();
    const processor = defineProcessor({
      name: "range-shards",
      batchSize: 10,
      ...fromRange(async ({ partition }) => ({ from: 1, to: Number(partition) })),
      shards: () => [
        { id: 0, to: 40 },
        { id: 1, from: 40 },
      ],
      processBatch(batch, ctx) {
        const key = `${ctx.partition}/${(ctx as { shard?: { id: number } }).shard?.id}`;
        seen.set(key, [...(seen.get(key) ?? []), ...batch]);
      },
    });
    const first = await run(processor, { store, partition: "100", shard: 0, logger: false });
    const second = await run(processor, { store, partition: "100", shard: 1, logger: false });
    assert.deepEqual([first.total, second.total], [40, 60], "each shard counts its own slice");
    assert.deepEqual(
      seen.get("100/0"),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      seen.get("100/1"),
      Array.from({ length: 60 }, (_, i) => i + 41),
    );
    assert.deepEqual([first.status, second.status], ["completed", "completed"]);
  });

  it("refuses bounds that are not safe integers and a step below 1, naming the option", async () => {
    assert.throws(
      () => fromRange({ from: 1.5, to: 3 }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError);
        assert.equal(error.option, "from");
        assert.match(error.message, /`from`: expected a safe integer, got 1\.5 \(number\)/);
        return true;
      },
    );
    assert.throws(
      () => fromRange({ from: 1, to: 3, step: 0 }),
      /`step`: expected an integer from 1 and up, got 0/,
    );
    const lazy = fromRange(() => ({ from: 1, to: Number.NaN }));
    await assert.rejects(
      async () => lazy.entities({ partition: "p", after: null }),
      /`to`: expected a safe integer, got NaN/,
    );
    assert.throws(
      () => fromRange({ from: 1, to: 3, stp: 2 } as never),
      (error: unknown) =>
        error instanceof InvalidOptionError &&
        error.option === "stp" &&
        /Unknown fromRange option `stp`: it takes `from`, `to`, `step`/.test(error.message),
    );
  });
});

describe("days", () => {
  it("lists every day from `from` to `to`, both included, across months and leap days", () => {
    assert.deepEqual(days("2024-02-27", "2024-03-01"), [
      "2024-02-27",
      "2024-02-28",
      "2024-02-29",
      "2024-03-01",
    ]);
    assert.deepEqual(days("2023-12-31", "2024-01-01"), ["2023-12-31", "2024-01-01"]);
    assert.deepEqual(days("2024-01-15", "2024-01-15"), ["2024-01-15"]);
    assert.deepEqual(days(new Date("2024-01-15T23:30:00Z"), "2024-01-16"), [
      "2024-01-15",
      "2024-01-16",
    ]);
    assert.equal(days("2000-01-01", "2099-12-31").length, 36_525);
  });

  it("refuses a day that does not exist, a reversed range and a runaway span", () => {
    const fails = (from: string, to: string, option: string, message: RegExp, maxDays?: number) =>
      assert.throws(
        () => days(from, to, maxDays === undefined ? {} : { maxDays }),
        (error: unknown) => {
          assert.ok(error instanceof InvalidOptionError);
          assert.equal(error.option, option);
          assert.match(error.message, message);
          return true;
        },
      );
    fails(
      "2023-02-29",
      "2023-03-01",
      "from",
      /`from` expects a date as YYYY-MM-DD, got "2023-02-29"/,
    );
    fails("2024-01-01", "24-01-31", "to", /`to` expects a date as YYYY-MM-DD, got "24-01-31"/);
    fails(
      "2024-01-31",
      "2024-01-01",
      "to",
      /`to` 2024-01-01 is before `from` 2024-01-31; swap them/,
    );
    fails("0024-01-01", "2024-01-01", "to", /spans 730486 days, more than maxDays \(36600\)/);
    fails("2024-01-01", "2024-01-08", "to", /spans 8 days, more than maxDays \(7\)/, 7);
    assert.throws(
      () => days("2024-01-01", "2024-01-02", { maxDay: 1 } as never),
      (error: unknown) => error instanceof InvalidOptionError && error.option === "maxDay",
    );
  });
});
