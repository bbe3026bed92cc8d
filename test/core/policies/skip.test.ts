import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { defineProcessor, run } from "../../../src/index.js";
import { type OpenedStore, STORE_FACTORIES } from "../../stores/stores.js";

const N = 10_000;
const POISON = new Set([1234, 5000, 10_000]);
const noWait = async () => {};

for (const factory of STORE_FACTORIES) {
  describe(`skips and the failure ledger on ${factory.name}`, () => {
    let opened: OpenedStore;
    beforeEach(async () => {
      opened = await factory.open();
    });
    afterEach(async () => {
      await opened.cleanup();
    });

    function poisoned(limit: number, poison: Set<number>) {
      const counter = { calls: 0 };
      const processor = defineProcessor<{ id: number }, { sum: number }>({
        name: "poisoned",
        batchSize: 50,
        retry: { attempts: 1 },
        skip: { limit },
        entities: ({ after }) => {
          const from = ((after as number | null) ?? 0) + 1;
          return Array.from({ length: N - from + 1 }, (_, i) => ({ id: from + i }));
        },
        id: (e) => e.id,
        initialState: () => ({ sum: 0 }),
        processBatch: async (batch, ctx) => {
          counter.calls++;
          for (const e of batch) {
            if (poison.has(e.id)) throw new TypeError(`cannot parse entity ${e.id}`);
            await opened.writeEffect(ctx.tx, String(e.id));
            ctx.state.sum += e.id;
          }
        },
      });
      return { processor, counter };
    }

    it("finds exactly the 3 poisoned entities among 10,000 with few extra calls", async (t) => {
      const { processor, counter } = poisoned(5, POISON);
      const result = await run(processor, { store: opened.store, logger: false, sleep: noWait });
      assert.equal(result.status, "completed", result.error?.message);
      assert.equal(result.skipped, 3);
      assert.equal(result.processed, N - 3);
      const extra = counter.calls - N / 50;
      t.diagnostic(`${extra} extra processBatch calls for 3 poisoned entities`);
      assert.ok(extra <= 3 * 16, `${extra} extra processBatch calls`);
      const ledger = await opened.store.listFailures({ processor: "poisoned" });
      assert.deepEqual(
        ledger.map((f) => f.cursor).sort((a, b) => (a as number) - (b as number)),
        [...POISON],
      );
      for (const f of ledger) {
        assert.match(f.error, /^TypeError: cannot parse entity \d+$/);
        assert.ok(f.attempts >= 3, `entity ${f.cursor}: ${f.attempts} failed calls`);
        assert.equal(f.runId, result.runId);
      }
      const effects = await opened.effects();
      assert.equal(effects.size, N - 3);
      for (const id of POISON) assert.equal(effects.has(String(id)), false);
      for (const [, writes] of effects) assert.equal(writes, 1);
    });

    it("fails the run past skip.limit, keeping what was committed", async () => {
      const { processor } = poisoned(1, POISON);
      const result = await run(processor, { store: opened.store, logger: false, sleep: noWait });
      assert.equal(result.status, "failed");
      assert.equal((result.error as { code?: string }).code, "SKIP_LIMIT");
      assert.match(result.error?.message ?? "", /past skip\.limit \(1\)/);
      const saved = await opened.store.getCheckpoint({
        processor: "poisoned",
        partition: "default",
        shard: "",
      });
      assert.equal(saved?.cursor, 4999, "committed up to the entity before the second poison");
      assert.deepEqual(
        (await opened.store.listFailures()).map((f) => f.cursor),
        [1234],
      );
    });
  });
}
