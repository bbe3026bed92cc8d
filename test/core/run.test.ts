import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { defineProcessor, type Processor, type RunOptions, run } from "../../src/index.js";
import { type OpenedStore, STORE_FACTORIES } from "../stores/stores.js";
import { captureLogger } from "../support/logger.js";

const PLAYERS = Array.from({ length: 450 }, (_, i) => ({ id: i + 1, points: (i * 7) % 31 }));
type Player = (typeof PLAYERS)[number];

for (const factory of STORE_FACTORIES) {
  describe(`run on ${factory.name}`, () => {
    let opened: OpenedStore;
    beforeEach(async () => {
      opened = await factory.open();
    });
    afterEach(async () => {
      await opened.cleanup();
    });

    /** A processor over the 450 players that writes one effect per player through ctx.tx. */
    function players(
      overrides: Partial<Parameters<typeof defineProcessor<Player, { points: number }>>[0]> = {},
    ) {
      return defineProcessor<Player, { points: number }>({
        name: "player-game-summary",
        retry: false,
        entities: ({ after }) => PLAYERS.filter((p) => after === null || p.id > (after as number)),
        id: (p) => p.id,
        initialState: () => ({ points: 0 }),
        processBatch: async (batch, ctx) => {
          for (const p of batch) {
            await opened.writeEffect(ctx.tx, String(p.id));
            ctx.state.points += p.points;
          }
        },
        ...overrides,
      });
    }

    function go<E, S>(processor: Processor<E, S>, options: Partial<RunOptions> = {}) {
      return run(processor, {
        store: opened.store,
        partition: "2024-01-15",
        logger: false,
        ...options,
      });
    }

    async function assertEveryPlayerOnce() {
      const effects = await opened.effects();
      assert.equal(effects.size, 450, "every player has an effect");
      for (const [key, writes] of effects) assert.equal(writes, 1, `player ${key} written once`);
    }

    it("processes every entity in batches, clears the checkpoint, records history", async () => {
      const { logger, lines } = captureLogger();
      const result = await go(players(), { logger, progressEveryMs: 0 });
      assert.equal(result.status, "completed");
      assert.equal(result.processed, 450);
      assert.equal(result.batches, 9);
      assert.equal(result.total, 450);
      assert.equal(result.resumedFrom, null);
      assert.ok(result.checkpointMs > 0);
      await assertEveryPlayerOnce();
      assert.equal(await opened.store.getCheckpoint(key()), null);
      const [row] = await opened.store.listRuns();
      assert.equal(row?.status, "completed");
      assert.equal(row?.processed, 450);
      assert.equal(row?.batches, 9);
      assert.ok(lines.includes("info: Progress: 350/450 (77.8%)"), lines.join("\n"));
      assert.ok(await opened.store.lastCompletedAt(key()));
    });

    it("fails at batch 301-350, keeps the checkpoint, and resumes exactly once", async () => {
      let quota = true;
      const processor = players({
        processBatch: async (batch, ctx) => {
          for (const p of batch) {
            await opened.writeEffect(ctx.tx, String(p.id));
            ctx.state.points += p.points;
            if (p.id === 320 && quota) throw new Error("Quota exceeded");
          }
        },
      });
      const { logger, lines } = captureLogger();
      const first = await go(processor, { logger });
      assert.equal(first.status, "failed");
      assert.match(first.error?.message ?? "", /Quota exceeded/);
      assert.equal(first.completed, 300);
      assert.ok(
        lines.some((l) => l.startsWith("error: Failed at 300/450. Checkpoint saved - can resume.")),
      );
      const saved = await opened.store.getCheckpoint(key());
      assert.equal(saved?.cursor, 300);
      assert.equal(saved?.leaseOwner, null, "a failed run releases its lease");
      const expectedPoints = PLAYERS.slice(0, 300).reduce((s, p) => s + p.points, 0);
      assert.deepEqual(JSON.parse(saved?.state ?? "null"), { points: expectedPoints });

      quota = false;
      const second = await go(processor, { logger });
      assert.equal(second.status, "completed");
      assert.equal(second.resumedFrom, 300);
      assert.equal(second.processed, 150);
      assert.ok(lines.includes("info: Found checkpoint: 300/450 complete (last: 300)"));
      await assertEveryPlayerOnce();
      const runs = await opened.store.listRuns();
      assert.deepEqual(
        runs.map((r) => [r.status, r.resumedFrom, r.processed, r.attempt]),
        [
          ["completed", 300, 150, 2],
          ["failed", null, 300, 1],
        ],
      );
    });

    it("carries state across a resume and restores it after a failed batch", async () => {
      let failOnce = true;
      const seen: number[] = [];
      const processor = players({
        batchSize: 100,
        processBatch: async (batch, ctx) => {
          ctx.state.points += batch.length;
          if (batch[0]?.id === 201 && failOnce) {
            failOnce = false;
            throw new Error("flaky");
          }
          seen.push(ctx.state.points);
        },
      });
      assert.equal((await go(processor)).status, "failed");
      assert.equal((await go(processor)).status, "completed");
      assert.deepEqual(seen, [100, 200, 300, 400, 450]);
    });

    it("gives a second runner on the same key busy, and lets another partition proceed", async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let entered!: () => void;
      const inside = new Promise<void>((resolve) => {
        entered = resolve;
      });
      const slow = players({
        processBatch: async () => {
          entered();
          await gate;
        },
      });
      const first = go(slow);
      await inside;
      const busy = await go(players());
      assert.equal(busy.status, "busy");
      assert.equal(busy.processed, 0);
      const other = await go(players(), { partition: "2024-01-16" });
      assert.equal(other.status, "completed");
      release();
      assert.equal((await first).status, "completed");
      const statuses = (await opened.store.listRuns({ partition: "2024-01-15" })).map(
        (r) => r.status,
      );
      assert.deepEqual(statuses.sort(), ["busy", "completed"]);
    });

    it("does not resume an expired checkpoint", async () => {
      let now = 1_700_000_000_000;
      const failing = players({
        expiryMs: 60_000,
        processBatch: async (batch) => {
          if (batch[0]?.id === 101) throw new Error("boom");
        },
      });
      await go(failing, { now: () => now });
      now += 60_001;
      const { logger, lines } = captureLogger();
      const result = await go(players({ expiryMs: 60_000 }), { now: () => now, logger });
      assert.equal(result.resumedFrom, null);
      assert.equal(result.processed, 450);
      assert.ok(
        lines.some((l) =>
          /past expiryMs \(60000\); starting over, redoing its 100 committed entities\. A longer `expiryMs` keeps checkpoints resumable for longer\./.test(
            l,
          ),
        ),
        lines.join("\n"),
      );
    });

    it("restarts on a version mismatch by default, and fails when asked to", async () => {
      const failing = players({
        processBatch: async (batch) => {
          if (batch[0]?.id === 101) throw new Error("boom");
        },
      });
      await go(failing);
      const strict = await go(players({ version: 2, onVersionMismatch: "fail" }));
      assert.equal(strict.status, "failed");
      assert.equal((strict.error as { code?: string }).code, "VERSION_MISMATCH");
      assert.match(strict.error?.message ?? "", /waymark reset player-game-summary 2024-01-15/);
      assert.equal((await opened.store.getCheckpoint(key()))?.cursor, 100, "checkpoint kept");
      const { logger, lines } = captureLogger();
      const restarted = await go(players({ version: 2 }), { logger });
      assert.equal(restarted.status, "completed");
      assert.equal(restarted.resumedFrom, null);
      assert.equal(restarted.processed, 450);
      assert.ok(
        lines.some((l) =>
          /written by version 1, this processor is version 2\. Starting over \(onVersionMismatch: "restart"\), redoing its 100 committed entities; `migrate` carries a checkpoint forward instead/.test(
            l,
          ),
        ),
        lines.join("\n"),
      );
    });

    it("stops on an out-of-order entity before committing past it", async () => {
      const ids = [1, 2, 3, 4, 5, 6, 5, 7, 8];
      const processor = defineProcessor({
        name: "ordered",
        batchSize: 2,
        entities: () => ids,
        id: (n: number) => n,
        processBatch: async (batch: number[], ctx) => {
          for (const n of batch) await opened.writeEffect(ctx.tx, String(n));
        },
      });
      const result = await go(processor);
      assert.equal(result.status, "failed");
      assert.equal((result.error as { code?: string }).code, "ORDER_VIOLATION");
      assert.equal(
        (
          await opened.store.getCheckpoint({
            processor: "ordered",
            partition: "2024-01-15",
            shard: "",
          })
        )?.cursor,
        6,
      );
      assert.deepEqual([...(await opened.effects()).keys()].sort(), ["1", "2", "3", "4", "5", "6"]);
      assert.match(
        result.error?.message ?? "",
        /entity id 5 \(number\) arrived after 6 \(number\)/,
      );
    });

    for (const [label, poison, code] of [
      ["a cyclic object", () => ({ self: null as unknown }), "STATE_NOT_SERIALIZABLE"],
      ["a BigInt", () => 10n, "STATE_NOT_SERIALIZABLE"],
      ["state over maxStateBytes", () => "x".repeat(2048), "STATE_TOO_LARGE"],
    ] as const) {
      it(`fails cleanly on ${label} and the last checkpoint still resumes`, async () => {
        const processor = defineProcessor<Player, Record<string, unknown>>({
          name: "stateful",
          maxStateBytes: 1024,
          entities: () => PLAYERS,
          id: (p) => p.id,
          initialState: () => ({}),
          processBatch: async (batch, ctx) => {
            for (const p of batch) await opened.writeEffect(ctx.tx, String(p.id));
            if (batch[0]?.id === 101) {
              const value = poison();
              if (typeof value === "object" && value) (value as { self: unknown }).self = value;
              ctx.state.bad = value;
            }
          },
        });
        const failed = await go(processor);
        assert.equal(failed.status, "failed");
        assert.equal((failed.error as { code?: string }).code, code);
        assert.match(failed.error?.message ?? "", /last checkpoint is kept/);
        const key = { processor: "stateful", partition: "2024-01-15", shard: "" };
        assert.equal((await opened.store.getCheckpoint(key))?.cursor, 100);
        assert.equal((await opened.effects()).size, 100, "the failed batch wrote nothing");
        const healthy = defineProcessor({ ...processor, processBatch: processor.processBatch });
        const fixed = await go(
          defineProcessor<Player, Record<string, unknown>>({
            ...healthy,
            processBatch: async (batch, ctx) => {
              for (const p of batch) await opened.writeEffect(ctx.tx, String(p.id));
            },
          }),
        );
        assert.equal(fixed.status, "completed");
        assert.equal(fixed.resumedFrom, 100);
        await assertEveryPlayerOnce();
      });
    }

    it("consumes an async source lazily, asking only for what comes after the cursor", async () => {
      const asked: Array<number | string | null> = [];
      let pulled = 0;
      let fail = true;
      const processor = defineProcessor({
        name: "lazy",
        batchSize: 10,
        retry: false,
        async *entities({ after }) {
          asked.push(after);
          for (let id = ((after as number | null) ?? 0) + 1; id <= 1000; id++) {
            pulled++;
            yield { id };
          }
        },
        id: (e: { id: number }) => e.id,
        processBatch: async (batch: Array<{ id: number }>) => {
          if (fail && batch[0]?.id === 31) throw new Error("stop");
        },
      });
      const first = await go(processor);
      assert.equal(first.status, "failed");
      assert.ok(pulled <= 41, `pulled ${pulled} entities, expected no read-ahead`);
      fail = false;
      const second = await go(processor);
      assert.equal(second.status, "completed");
      assert.equal(second.processed, 970);
      assert.equal(second.total, null);
      assert.deepEqual(asked, [null, 30]);
    });

    it("takes the total from count(), and works with a hostile processor name", async () => {
      const name = `o'brien"; DROP TABLE x; --`;
      const result = await go(players({ name, count: async () => 450 }));
      assert.equal(result.status, "completed");
      assert.equal(result.total, 450);
      assert.equal((await opened.store.listRuns({ processor: name }))[0]?.status, "completed");
    });

    it("gives stable, distinct idempotency keys", async () => {
      const keys: string[][] = [[], []];
      for (const round of [0, 1]) {
        await go(
          players({
            processBatch: async (batch, ctx) => {
              for (const p of batch.slice(0, 2)) keys[round]?.push(ctx.idempotencyKey(p));
            },
          }),
        );
      }
      assert.deepEqual(keys[0], keys[1]);
      assert.equal(new Set(keys[0]).size, keys[0]?.length);
      assert.match(keys[0]?.[0] ?? "", /^[0-9a-f]{64}$/);
    });

    it("suspends at a batch boundary when its signal is aborted", async () => {
      const controller = new AbortController();
      const processor = players({
        processBatch: async (batch, ctx) => {
          for (const p of batch) await opened.writeEffect(ctx.tx, String(p.id));
          if (batch[0]?.id === 151) controller.abort();
        },
      });
      const first = await go(processor, { signal: controller.signal });
      assert.equal(first.status, "suspended");
      assert.equal(first.reason, "signal");
      assert.equal(first.completed, 200);
      const second = await go(processor);
      assert.equal(second.resumedFrom, 200);
      await assertEveryPlayerOnce();
    });
  });
}

function key() {
  return { processor: "player-game-summary", partition: "2024-01-15", shard: "" };
}
