import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { defineProcessor, type ProcessorDefinition, run } from "../../src/index.js";
import { type OpenedStore, STORE_FACTORIES } from "../stores/stores.js";
import { captureLogger } from "../support/logger.js";

type Item = { id: number };
const KEY = { processor: "drifting", partition: "p", shard: "" };

for (const factory of STORE_FACTORIES) {
  describe(`input drift and checkpoint migrations on ${factory.name}`, () => {
    let opened: OpenedStore;
    /** The partition's input: tests insert ids into it between runs. */
    let ids: number[];
    let version: string;
    beforeEach(async () => {
      opened = await factory.open();
      ids = Array.from({ length: 100 }, (_, i) => (i + 1) * 10);
      version = "v1";
    });
    afterEach(async () => {
      await opened.cleanup();
    });

    /** Sums ids in state; fails at the batch starting with `failAt` while it is set. */
    function processor(
      failAt: { id: number | null },
      overrides: Partial<
        ProcessorDefinition<Item, { sum: number; seen: number }, unknown, number>
      > = {},
    ) {
      return defineProcessor<Item, { sum: number; seen: number }>({
        name: KEY.processor,
        batchSize: 20,
        retry: false,
        entities: ({ after }) =>
          ids.filter((id) => after === null || id > after).map((id) => ({ id })),
        id: (item) => item.id,
        count: () => ids.length,
        fingerprint: () => version,
        initialState: () => ({ sum: 0, seen: 0 }),
        processBatch: (batch, ctx) => {
          if (batch[0]?.id === failAt.id) throw new Error("interrupted");
          for (const item of batch) {
            ctx.state.sum += item.id;
            ctx.state.seen++;
          }
        },
        ...overrides,
      });
    }

    const go = (p: ReturnType<typeof processor>, logger = captureLogger().logger) =>
      run(p, { store: opened.store, partition: KEY.partition, logger });

    /** Runs until the batch starting at 410 fails: 40 entities committed, cursor 400. */
    async function interruptAt400(overrides = {}) {
      const failed = await go(processor({ id: 410 }, overrides));
      assert.equal(failed.status, "failed");
      const saved = await opened.store.getCheckpoint(KEY);
      assert.equal(saved?.cursor, 400);
      assert.equal(saved?.fingerprint, "v1", "the fingerprint is written with every commit");
      assert.equal(saved?.total, 100);
    }

    it("resumes when neither the fingerprint nor the count changed", async () => {
      await interruptAt400();
      const { logger, lines } = captureLogger();
      const resumed = await go(processor({ id: null }), logger);
      assert.equal(resumed.status, "completed");
      assert.equal(resumed.resumedFrom, 40);
      assert.equal(resumed.processed, 60);
      assert.ok(!lines.some((l) => /input .* changed/.test(l)), lines.join("\n"));
    });

    it("restarts by default when entities were inserted before the cursor", async () => {
      await interruptAt400();
      ids.push(5); // an id before the cursor: a plain resume would never process it
      ids.sort((a, b) => a - b);
      version = "v2";
      const { logger, lines } = captureLogger();
      let final: { sum: number; seen: number } | undefined;
      const result = await go(
        processor(
          { id: null },
          {
            processBatch: (batch, ctx) => {
              for (const item of batch) {
                ctx.state.sum += item.id;
                ctx.state.seen++;
              }
              final = ctx.state;
            },
          },
        ),
        logger,
      );
      assert.equal(result.status, "completed");
      assert.equal(result.resumedFrom, null);
      assert.equal(result.processed, 101);
      assert.deepEqual(final, { sum: 5 + 50_500, seen: 101 }, "the inserted entity is included");
      assert.ok(
        lines.includes(
          'warn: The input of drifting/p changed since its checkpoint (fingerprint "v1" -> "v2", ' +
            'total 100 -> 101). Starting over (onDrift: "restart"), redoing the 40 committed ' +
            'entities; onDrift: "continue" resumes after the cursor instead.',
        ),
        lines.join("\n"),
      );
    });

    it("detects a changed fingerprint alone, and continues when told to", async () => {
      await interruptAt400({ onDrift: "continue" });
      version = "v2";
      const { logger, lines } = captureLogger();
      const result = await go(processor({ id: null }, { onDrift: "continue" }), logger);
      assert.equal(result.status, "completed");
      assert.equal(result.resumedFrom, 40);
      assert.ok(lines.some((l) => /"v1" -> "v2"\)\. Resuming after the cursor anyway/.test(l)));
    });

    it("resumes with the new total when only the count changed, under every onDrift", async () => {
      // fromQuery({ count: true }) on a table that grows: the total moves, the input before the
      // cursor does not. count() is for progress, so this is no reason to redo committed work.
      for (const onDrift of ["restart", "continue", "fail"] as const) {
        ids = Array.from({ length: 100 }, (_, i) => (i + 1) * 10);
        await interruptAt400({ onDrift });
        ids.push(2000);
        const { logger, lines } = captureLogger();
        const result = await go(processor({ id: null }, { onDrift }), logger);
        assert.equal(result.status, "completed", onDrift);
        assert.equal(result.resumedFrom, 40, `${onDrift}: resumed, not restarted`);
        assert.equal(result.processed, 61);
        assert.equal(result.total, 101);
        assert.ok(
          lines.includes(
            "info: The total of drifting/p changed since its checkpoint (total 100 -> 101); " +
              "resuming after the cursor with the new total. Only a changed `fingerprint` is " +
              "input drift.",
          ),
          lines.join("\n"),
        );
      }
    });

    it("fails with INPUT_DRIFT on a changed fingerprint when told to", async () => {
      await interruptAt400({ onDrift: "fail" });
      ids.push(2000);
      version = "v2";
      const result = await go(processor({ id: null }, { onDrift: "fail" }));
      assert.equal(result.status, "failed");
      assert.equal((result.error as { code?: string }).code, "INPUT_DRIFT");
      assert.match(result.error?.message ?? "", /fingerprint "v1" -> "v2", total 100 -> 101/);
      assert.match(result.error?.message ?? "", /waymark reset drifting p/);
      const kept = await opened.store.getCheckpoint(KEY);
      assert.equal(kept?.cursor, 400, "the checkpoint is kept for the operator");
      assert.equal(kept?.fingerprint, "v1");
    });

    it("rejects a bad onDrift value naming the option", () => {
      assert.throws(
        () => processor({ id: null }, { onDrift: "ignore" as "fail" }),
        /Invalid processor "[^"]+" option `onDrift`: expected "restart", "continue" or "fail", got "ignore"/,
      );
    });

    it("carries a checkpoint forward across a version bump with migrate", async () => {
      await interruptAt400();
      const calls: unknown[] = [];
      let final: unknown;
      const v2 = processor(
        { id: null },
        {
          version: 2,
          migrate: async (old) => {
            calls.push(old);
            const state = old.state as { sum: number; seen: number };
            return { state: { sum: state.sum * 2, seen: state.seen } };
          },
          processBatch: (batch, ctx) => {
            for (const item of batch) {
              ctx.state.sum += item.id * 2;
              ctx.state.seen++;
            }
            final = ctx.state;
          },
        },
      );
      const { logger, lines } = captureLogger();
      const result = await go(v2, logger);
      assert.equal(result.status, "completed");
      assert.equal(result.resumedFrom, 40);
      assert.equal(result.processed, 60);
      assert.deepEqual(calls, [
        { fromVersion: 1, state: { sum: 8200, seen: 40 }, cursor: 400, completed: 40 },
      ]);
      assert.deepEqual(final, { sum: 101_000, seen: 100 });
      assert.ok(lines.includes("info: Migrated checkpoint of drifting/p from version 1 to 2."));
    });

    it("lets migrate move the cursor, or return null to start over", async () => {
      await interruptAt400();
      const moved = await go(
        processor(
          { id: 610 },
          {
            version: 2,
            migrate: ({ state }) => ({
              state: state as { sum: number; seen: number },
              cursor: 200,
            }),
          },
        ),
      );
      assert.equal(moved.status, "failed");
      assert.equal(moved.resumedFrom, 40);
      assert.equal(moved.processed, 40, "resumed after 200, not 400");
      const saved = await opened.store.getCheckpoint(KEY);
      assert.equal(saved?.processorVersion, 2, "the first commit writes the new version");
      assert.equal(saved?.cursor, 600);
      const restarted = await go(processor({ id: null }, { version: 3, migrate: () => null }));
      assert.equal(restarted.resumedFrom, null);
      assert.equal(restarted.processed, 100);
    });

    it("fails clearly on a fingerprint that is not a string or a migrated cursor that is bad", async () => {
      const numeric = await go(
        processor({ id: null }, { fingerprint: () => 7 as unknown as string }),
      );
      assert.equal((numeric.error as { option?: string }).option, "fingerprint");
      assert.match(numeric.error?.message ?? "", /returned number; return a string/);
      await interruptAt400();
      const bad = await go(
        processor(
          { id: null },
          { version: 2, migrate: ({ state }) => ({ state: state as never, cursor: Number.NaN }) },
        ),
      );
      assert.equal((bad.error as { option?: string }).option, "migrate");
      assert.match(bad.error?.message ?? "", /returned cursor NaN/);
      assert.equal((await opened.store.getCheckpoint(KEY))?.cursor, 400, "checkpoint kept");
      // A migrate that forgot its return (or returns anything but an object) is refused too.
      for (const returned of [undefined, 5, []]) {
        const forgot = await go(
          processor({ id: null }, { version: 2, migrate: () => returned as never }),
        );
        assert.equal((forgot.error as { option?: string }).option, "migrate");
        assert.match(forgot.error?.message ?? "", /return \{ state, cursor\? \}/);
        assert.equal((await opened.store.getCheckpoint(KEY))?.cursor, 400, "checkpoint kept");
      }
    });

    it("applies onVersionMismatch when there is no migrate", async () => {
      await interruptAt400();
      const strict = await go(processor({ id: null }, { version: 2, onVersionMismatch: "fail" }));
      assert.equal((strict.error as { code?: string }).code, "VERSION_MISMATCH");
      const restarted = await go(processor({ id: null }, { version: 2 }));
      assert.equal(restarted.status, "completed");
      assert.equal(restarted.resumedFrom, null);
    });
  });
}
