import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, it } from "node:test";
import { defineProcessor, MemoryStore, type ProcessorDefinition, run } from "../../src/index.js";
import { type OpenedStore, STORE_FACTORIES } from "../stores/stores.js";

const KEY = { processor: "artifacts", partition: "p", shard: "" };
/** 2.5 MiB, so that an artifact spans three chunks with a short last one. */
const BIG = Buffer.alloc(2.5 * 1024 * 1024, "weights:0123456789;");
const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

for (const factory of STORE_FACTORIES) {
  describe(`artifacts on ${factory.name}`, () => {
    let opened: OpenedStore;
    beforeEach(async () => {
      opened = await factory.open();
    });
    afterEach(async () => {
      await opened.cleanup();
    });

    function processor(overrides: Partial<ProcessorDefinition<number, undefined>>) {
      return defineProcessor<number, undefined>({
        name: KEY.processor,
        batchSize: 1,
        retry: false,
        entities: ({ after }) =>
          [1, 2, 3, 4].filter((n) => after === null || n > (after as number)),
        id: (n) => n,
        processBatch: () => {},
        ...overrides,
      });
    }
    const go = (p: ReturnType<typeof processor>) =>
      run(p, { store: opened.store, partition: KEY.partition, logger: false });

    it("round-trips bytes, streams and iterables, across batches and a resume", async () => {
      const seen: string[] = [];
      let failOnce = true;
      const p = processor({
        processBatch: async ([n], ctx) => {
          if (n === 1) {
            const info = await ctx.artifacts.put("big", BIG);
            assert.deepEqual(info, { name: "big", hash: sha(BIG), size: BIG.length });
            await ctx.artifacts.put(
              "text",
              ["a", "b"].map((s) => Buffer.from(s)),
            );
            assert.equal((await ctx.artifacts.getBuffer("text"))?.toString(), "ab", "own put");
          }
          if (n === 3 && failOnce) {
            failOnce = false;
            await ctx.artifacts.put("text", Buffer.from("never committed"));
            throw new Error("interrupted");
          }
          if (n !== undefined && n >= 2) {
            const stream = await ctx.artifacts.get("big");
            const hash = createHash("sha256");
            for await (const chunk of stream ?? []) hash.update(chunk as Buffer);
            seen.push(`${n}:${hash.digest("hex") === sha(BIG)}`);
            seen.push(`${n}:${(await ctx.artifacts.getBuffer("text"))?.toString()}`);
            assert.equal(await ctx.artifacts.get("missing"), null);
          }
        },
      });
      assert.equal((await go(p)).status, "failed");
      const refs = await opened.store.artifacts?.listArtifacts(KEY);
      assert.deepEqual(
        refs?.map((r) => [r.name, r.size, r.chunks]),
        [
          ["big", BIG.length, 3],
          ["text", 2, 1],
        ],
      );
      const resumed = await go(p);
      assert.equal(resumed.status, "completed");
      assert.equal(resumed.resumedFrom, 2);
      assert.deepEqual(seen, ["2:true", "2:ab", "3:true", "3:ab", "4:true", "4:ab"]);
      assert.deepEqual(
        await opened.store.artifacts?.listArtifacts(KEY),
        [],
        "cleared on completion",
      );
      assert.equal(await opened.store.artifacts?.collectGarbage(KEY), 0, "no blob left behind");
    });

    it("removes the replaced version after the next commit", async () => {
      const p = processor({
        processBatch: async ([n], ctx) => {
          await ctx.artifacts.put("model", Buffer.from(`version ${n}`));
          if (n === 3) throw new Error("stop here");
        },
      });
      await go(p);
      const artifacts = opened.store.artifacts;
      const [ref] = (await artifacts?.listArtifacts(KEY)) ?? [];
      assert.equal(ref?.size, "version 2".length);
      assert.equal(await artifacts?.collectGarbage(KEY), 0, "old and failed versions already gone");
      assert.equal((await artifacts?.readChunk(ref?.blobId ?? "", 0)) !== null, true);
    });

    it("refuses an artifact over maxArtifactBytes and keeps the last checkpoint", async () => {
      const p = processor({
        maxArtifactBytes: 1024 * 1024 + 10,
        processBatch: async ([n], ctx) => {
          await ctx.artifacts.put("model", n === 2 ? BIG : Buffer.from(`small ${n}`));
        },
      });
      const failed = await go(p);
      assert.equal(failed.status, "failed");
      assert.equal((failed.error as { code?: string }).code, "ARTIFACT_TOO_LARGE");
      assert.match(failed.error?.message ?? "", /over maxArtifactBytes \(1048586 bytes/);
      assert.match(failed.error?.message ?? "", /the last checkpoint is kept/);
      assert.equal((await opened.store.getCheckpoint(KEY))?.cursor, 1);
      assert.equal(await opened.store.artifacts?.collectGarbage(KEY), 0, "partial blob removed");
      let resumedWith: string | undefined;
      const fixed = processor({
        processBatch: async ([n], ctx) => {
          resumedWith ??= (await ctx.artifacts.getBuffer("model"))?.toString();
          await ctx.artifacts.put("model", Buffer.from(`small ${n}`));
        },
      });
      const resumed = await go(fixed);
      assert.equal(resumed.status, "completed");
      assert.equal(resumed.resumedFrom, 1);
      assert.equal(resumedWith, "small 1");
    });

    it("does not leak an old checkpoint's artifacts into a fresh start", async () => {
      await go(
        processor({
          processBatch: async ([n], ctx) => {
            await ctx.artifacts.put("model", Buffer.from("old meaning"));
            if (n === 2) throw new Error("stop");
          },
        }),
      );
      let found: Buffer | null | undefined;
      const v2 = processor({
        version: 2,
        processBatch: async (_batch, ctx) => {
          found ??= await ctx.artifacts.getBuffer("model");
        },
      });
      assert.equal((await go(v2)).resumedFrom, null);
      assert.equal(found, null);
    });

    it("says so when the store does not keep artifacts", async () => {
      const bare = new MemoryStore();
      Object.defineProperty(bare, "artifacts", { value: undefined });
      const result = await run(
        processor({ processBatch: async (_b, ctx) => void (await ctx.artifacts.get("x")) }),
        { store: bare, logger: false },
      );
      assert.equal((result.error as { code?: string }).code, "STORE_INCOMPATIBLE");
      assert.match(result.error?.message ?? "", /memory store does not keep artifacts/);
    });
  });
}
