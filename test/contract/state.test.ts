// State round-trips or is refused, the same way on every store: the JSON codec refuses what
// JSON would change, naming the path; the v8 codec keeps Maps, Dates and typed arrays across
// a resume; a null-prototype object comes back without one; the row records the codec;
// RunResult.state holds the last committed state.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defineProcessor } from "../../src/core/processor.js";
import { run } from "../../src/core/run.js";
import { v8StateCodec } from "../../src/core/state-codecs.js";
import { MemoryStore } from "../../src/stores/memory/memory-store.js";
import { describeCounts, wordCount } from "../fixtures/word-count.js";
import { historyOf, onEveryStore, resultOf } from "./compare.js";

const IDS = Array.from({ length: 10 }, (_, i) => i + 1);
const after = (a: unknown) => IDS.filter((n) => a === null || n > (a as number));

describe("state round-trips or is refused, on every store", { timeout: 120_000 }, () => {
  const lossy: Array<[string, () => unknown, RegExp]> = [
    ["a Map", () => ({ m: new Map([["a", 1]]) }), /state\.m: a Map/],
    ["a Date", () => ({ at: new Date(0) }), /state\.at: a Date/],
    ["a function", () => ({ f: () => 1 }), /state\.f: a function/],
    ["NaN", () => ({ sums: [1, Number.NaN] }), /state\.sums\[1\]: NaN/],
    ["undefined", () => ({ a: undefined }), /state\.a: undefined/],
    ["-0", () => ({ z: -0 }), /state\.z: -0/],
    // biome-ignore lint/suspicious/noSparseArray: the hole is what the codec must refuse
    ["a sparse array", () => ({ s: [1, , 3] }), /state\.s\[1\]: a hole/],
    ["a class instance", () => ({ p: new (class Point {})() }), /state\.p: an instance of Point/],
    [
      "a named property of an array",
      () => ({ rows: Object.assign([1, 2], { total: 3 }) }),
      /state\.rows\.total: a named property of an array/,
    ],
    [
      "a symbol-keyed property",
      () => ({ tags: { [Symbol("seen")]: true } }),
      /state\.tags\[Symbol\(seen\)\]: a symbol-keyed property/,
    ],
    [
      "a non-enumerable property",
      () => ({ totals: Object.defineProperty({}, "sum", { value: 1 }) }),
      /state\.totals\.sum: a non-enumerable property/,
    ],
  ];
  for (const [what, initialState, path] of lossy) {
    it(`refuses ${what} in the initial state before the first batch`, async () => {
      const seen = await onEveryStore(async (opened) => {
        let calls = 0;
        const result = await run(
          defineProcessor<number, unknown>({
            name: "lossy",
            entities: ({ after: a }) => after(a),
            id: (n) => n,
            initialState,
            processBatch() {
              calls++;
            },
          }),
          { store: opened.store, logger: false },
        );
        return {
          result: resultOf(result),
          named: path.test(result.error?.message ?? ""),
          calls,
          committed: (await opened.store.listCheckpoints()).map((c) => c.cursor),
        };
      });
      assert.equal(seen.result.status, "failed");
      assert.equal(seen.result.error, "STATE_NOT_SERIALIZABLE");
      assert.equal(seen.named, true, "the message names the path");
      assert.equal(seen.calls, 0);
      assert.deepEqual(seen.committed, [null]);
    });
  }

  it("refuses a lossy value a batch puts into state, keeping the last good checkpoint", async () => {
    const seen = await onEveryStore(async (opened) => {
      const result = await run(
        defineProcessor<number, { sum: number }>({
          name: "turns-lossy",
          batchSize: 5,
          retry: false,
          entities: ({ after: a }) => after(a),
          id: (n) => n,
          initialState: () => ({ sum: 0 }),
          processBatch(batch, ctx) {
            ctx.state.sum += batch.length;
            if (ctx.batchNumber === 2) ctx.state.sum = Number.POSITIVE_INFINITY;
          },
        }),
        { store: opened.store, logger: false },
      );
      const [checkpoint] = await opened.store.listCheckpoints();
      return {
        result: resultOf(result),
        message: /state\.sum: Infinity/.test(result.error?.message ?? ""),
        state: result.state,
        kept: [checkpoint?.cursor, checkpoint?.state, checkpoint?.stateCodec],
        history: await historyOf(opened.store),
      };
    });
    assert.equal(seen.result.error, "STATE_NOT_SERIALIZABLE");
    assert.equal(seen.message, true);
    assert.deepEqual(seen.state, { sum: 5 }, "RunResult.state is the last committed state");
    assert.deepEqual(seen.kept, [5, '{"sum":5}', "json"]);
  });

  it("keeps a Map, a Date, a Float64Array and NaN across a resume with v8StateCodec", async () => {
    interface Model {
      seen: Map<number, Date>;
      weights: Float64Array;
      loss: number;
    }
    const seen = await onEveryStore(async (opened) => {
      const processor = defineProcessor<number, Model>({
        name: "v8-state",
        batchSize: 4,
        stateCodec: v8StateCodec,
        entities: ({ after: a }) => after(a),
        id: (n) => n,
        initialState: () => ({ seen: new Map(), weights: new Float64Array(3), loss: Number.NaN }),
        processBatch(batch, ctx) {
          for (const n of batch) {
            ctx.state.seen.set(n, new Date(n * 1000));
            ctx.state.weights[n % 3] = (ctx.state.weights[n % 3] ?? 0) + n / 10;
          }
        },
      });
      const stop = new AbortController();
      const first = await run(processor, {
        store: opened.store,
        logger: false,
        signal: stop.signal,
        onProgress: () => stop.abort(),
      });
      const [row] = await opened.store.listCheckpoints();
      const second = await run(processor, { store: opened.store, logger: false });
      const state = second.state as Model;
      return {
        first: resultOf(first),
        second: resultOf(second),
        codec: row?.stateCodec,
        dates: [...state.seen].map(([n, d]) => [n, d instanceof Date ? d.getTime() : d]),
        weights: [...state.weights].map((w) => Math.round(w * 10)),
        isTyped: state.weights instanceof Float64Array,
        loss: state.loss,
      };
    });
    assert.equal(seen.first.status, "suspended");
    assert.equal(seen.second.resumedFrom, 4);
    assert.equal(seen.codec, "v8", "the row records the codec that wrote it");
    assert.deepEqual(
      seen.dates,
      IDS.map((n) => [n, n * 1000]),
    );
    assert.deepEqual(seen.weights, [18, 22, 15]);
    assert.equal(seen.isTyped, true);
    assert.ok(Number.isNaN(seen.loss));
  });

  it("keeps a null-prototype dictionary without a prototype across a resume, both codecs", async () => {
    const seen = await onEveryStore(async (opened) => {
      const ends = [];
      for (const codec of ["json", "v8"] as const) {
        const stop = new AbortController();
        await run(wordCount(codec), {
          store: opened.store,
          partition: codec,
          logger: false,
          signal: stop.signal,
          onProgress: (p) => p.completed >= 120 && stop.abort(),
        });
        const resumed = await run(wordCount(codec), {
          store: opened.store,
          partition: codec,
          logger: false,
        });
        ends.push({ resumedFrom: resumed.resumedFrom, ...describeCounts(resumed.state) });
      }
      return ends;
    });
    const whole = describeCounts(
      (await run(wordCount("json"), { store: new MemoryStore(), logger: false })).state,
    );
    for (const end of seen) {
      assert.deepEqual(end, { resumedFrom: 120, ...whole, nullPrototype: true });
    }
  });

  it("refuses to resume state written by a codec the processor does not have", async () => {
    const custom = {
      name: "rot13-v1",
      encode: (s: unknown) => JSON.stringify(s),
      decode: JSON.parse,
    };
    const seen = await onEveryStore(async (opened) => {
      const make = (codec: typeof custom | undefined) =>
        defineProcessor<number, { n: number }>({
          name: "codec-change",
          batchSize: 5,
          ...(codec ? { stateCodec: codec } : {}),
          entities: ({ after: a }) => after(a),
          id: (n) => n,
          initialState: () => ({ n: 0 }),
          processBatch(batch, ctx) {
            ctx.state.n += batch.length;
          },
        });
      const stop = new AbortController();
      await run(make(custom), {
        store: opened.store,
        logger: false,
        signal: stop.signal,
        onProgress: () => stop.abort(),
      });
      const refused = await run(make(undefined), { store: opened.store, logger: false });
      const [row] = await opened.store.listCheckpoints();
      return { refused: resultOf(refused), kept: row?.cursor };
    });
    assert.equal(seen.refused.error, "STATE_CODEC_UNKNOWN");
    assert.equal(seen.kept, 5, "the checkpoint is kept for the right codec");
  });
});
