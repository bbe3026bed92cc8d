// A processor written for one store's ctx.tx run on another: it fails its first batch at
// once with an error that says so, instead of a TypeError retried through every backoff.
// A PostgreSQL store's ctx.tx has no run at all (code that tells the stores apart looks for
// one), so there a call is node's own TypeError.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defineProcessor, InvalidOptionError, run } from "../../src/index.js";
import { STORE_FACTORIES } from "./stores.js";

/** ctx.tx as a SQLite store takes it, or as a memory store does. */
const STYLES = {
  sqlite: (tx: unknown) => (tx as { run(sql: string, ...params: unknown[]): void }).run("SELECT 1"),
  memory: (tx: unknown) => (tx as { run(effect: () => void): void }).run(() => {}),
} as const;

for (const factory of STORE_FACTORIES.filter((f) => f.name !== "postgres")) {
  describe(`ctx.tx of another store on ${factory.name}`, () => {
    for (const [style, write] of Object.entries(STYLES)) {
      const own = factory.name.startsWith(style);
      it(`${style}-style writes ${own ? "work" : "fail at once, naming ctx.tx"}`, async () => {
        const opened = await factory.open();
        try {
          const slept: number[] = [];
          const processor = defineProcessor<number>({
            name: `${style}-style`,
            entities: () => [1, 2, 3],
            id: (n) => n,
            processBatch: (_batch, ctx) => write(ctx.tx),
          });
          const result = await run(processor, {
            store: opened.store,
            logger: false,
            sleep: async (ms) => void slept.push(ms),
          });
          if (own) {
            assert.equal(result.status, "completed", result.error?.message);
            return;
          }
          assert.equal(result.status, "failed");
          assert.ok(result.error instanceof InvalidOptionError, result.error?.message);
          assert.equal(result.error.option, "ctx.tx");
          assert.match(result.error.message, /A processor is written for one kind of store/);
          assert.deepEqual(slept, [], "not retried");
        } finally {
          await opened.cleanup();
        }
      });
    }
  });
}
