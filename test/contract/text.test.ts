// Text from user code is stored safely, the same way on every store: a NUL or an unpaired
// surrogate in an error message is escaped in the ledger and history (PostgreSQL refuses
// NUL in text, the SQL drivers replace unpaired surrogates), cursors come back exactly, and
// values that must come back exactly (fingerprint, partition, artifact name, a codec's text)
// are refused up front with a typed error naming the option.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidOptionError } from "../../src/core/errors.js";
import { defineProcessor } from "../../src/core/processor.js";
import { run } from "../../src/core/run.js";
import type { OpenedStore } from "../stores/stores.js";
import { effectsOf, onEveryStore, resultOf } from "./compare.js";

const NUL_MESSAGE = "Unexpected token \u0000 in JSON at position 3";
const LONE_SURROGATE = "half an emoji: \ud83d";

/** Entities 1-20 in batches of five; 7 and 13 fail with text a store cannot take as it is. */
function poisoned(opened: OpenedStore, skip: boolean) {
  return defineProcessor<number>({
    name: "poisoned-text",
    batchSize: 5,
    retry: false,
    ...(skip ? { skip: { limit: 3 } } : {}),
    entities: ({ after }) =>
      Array.from({ length: 20 }, (_, i) => i + 1).filter(
        (n) => after === null || n > (after as number),
      ),
    id: (n) => n,
    async processBatch(batch, ctx) {
      if (batch.includes(7)) throw new SyntaxError(NUL_MESSAGE);
      if (batch.includes(13)) throw new Error(LONE_SURROGATE);
      for (const n of batch) await opened.writeEffect(ctx.tx, `e-${n}`);
    },
  });
}

describe("text from user code is stored safely, on every store", { timeout: 120_000 }, () => {
  it("ledgers entities whose errors hold a NUL or an unpaired surrogate, and completes the rest", async () => {
    const seen = await onEveryStore(async (opened) => {
      const result = await run(poisoned(opened, true), { store: opened.store, logger: false });
      return {
        result: resultOf(result),
        ledger: (await opened.store.listFailures()).map((f) => [f.cursor, f.error]),
        effects: (await effectsOf(opened)).map(([key]) => key),
      };
    });
    assert.equal(seen.result.status, "completed");
    assert.equal(seen.result.skipped, 2);
    assert.deepEqual(seen.ledger, [
      [7, "SyntaxError: Unexpected token \\u0000 in JSON at position 3"],
      [13, "Error: half an emoji: \\ud83d"],
    ]);
    assert.equal(seen.effects.length, 18, "every healthy entity was processed");
  });

  it("records a run that fails with a NUL in its error in history", async () => {
    const seen = await onEveryStore(async (opened) => {
      const result = await run(poisoned(opened, false), { store: opened.store, logger: false });
      const [history] = await opened.store.listRuns();
      return { result: resultOf(result), history: [history?.status, history?.error] };
    });
    assert.equal(seen.result.status, "failed");
    assert.deepEqual(seen.history, [
      "failed",
      "SyntaxError: Unexpected token \\u0000 in JSON at position 3",
    ]);
  });

  it("gives cursor strings with a NUL or an unpaired surrogate back exactly", async () => {
    const ids = ["a", "a\u0000", "a\u0000b", "a\ud800", "b"];
    const seen = await onEveryStore(async (opened) => {
      const processor = defineProcessor<string>({
        name: "odd-ids",
        batchSize: 2,
        retry: false,
        skip: { limit: 1 },
        entities: ({ after }) => ids.filter((id) => after === null || id > (after as string)),
        id: (id) => id,
        processBatch(batch) {
          if (batch.includes("a\ud800")) throw new Error("poisoned");
        },
      });
      const stop = new AbortController();
      await run(processor, {
        store: opened.store,
        logger: false,
        signal: stop.signal,
        onProgress: () => stop.abort(),
      });
      const [checkpoint] = await opened.store.listCheckpoints();
      const resumed = await run(processor, { store: opened.store, logger: false });
      return {
        committed: checkpoint?.cursor,
        resumed: resultOf(resumed),
        ledger: (await opened.store.listFailures()).map((f) => f.cursor),
      };
    });
    assert.equal(seen.committed, "a\u0000");
    assert.equal(seen.resumed.resumedFrom, 2);
    assert.equal(seen.resumed.status, "completed");
    assert.deepEqual(seen.ledger, ["a\ud800"]);
  });

  it("refuses a fingerprint, a partition, an artifact name or a codec's text it cannot store exactly", async () => {
    const seen = await onEveryStore(async (opened) => {
      const base = {
        name: "refused-text",
        entities: () => [1, 2],
        id: (n: number) => n,
        processBatch() {},
      };
      const outcome = async (promise: Promise<{ error?: Error }>) => {
        const error = await promise.then(
          (r) => r.error,
          (e: unknown) => e as Error,
        );
        return error instanceof InvalidOptionError
          ? `INVALID_OPTION ${error.option}`
          : (error as { code?: string })?.code;
      };
      const store = opened.store;
      return {
        fingerprint: await outcome(
          run(defineProcessor({ ...base, fingerprint: () => "v1\u0000" }), {
            store,
            logger: false,
          }),
        ),
        partition: await outcome(
          run(defineProcessor(base), { store, partition: "2024-01-15\ud800", logger: false }),
        ),
        artifact: await outcome(
          run(
            defineProcessor({
              ...base,
              async processBatch(_batch: number[], ctx) {
                await ctx.artifacts.put("weights\u0000", Buffer.from("x"));
              },
            }),
            { store, logger: false },
          ),
        ),
        codec: await outcome(
          run(
            defineProcessor({
              ...base,
              initialState: () => ({ n: 1 }),
              stateCodec: { name: "raw", encode: () => "\u0000", decode: () => ({ n: 1 }) },
            }),
            { store, logger: false },
          ),
        ),
        committed: (await store.listCheckpoints()).map((c) => c.cursor),
      };
    });
    assert.deepEqual(seen, {
      fingerprint: "INVALID_OPTION fingerprint",
      partition: "INVALID_OPTION partition",
      artifact: "INVALID_OPTION name",
      codec: "STATE_NOT_SERIALIZABLE",
      committed: [null],
    });
  });
});
