// A run whose checkpoint row another session locks, on a PostgresStore whose pool has a single
// connection: the stalled commit holds it, so not even the cancel of the statement can be sent.
// The run still ends by its deadline plus its wind-up, says the commit's outcome is unknown, and
// close() ends the stuck connection instead of waiting for the lock.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { describe, it } from "node:test";
import pg from "pg";
import { defineProcessor, PostgresStore, run, StoreError } from "../../src/index.js";
import { captureLogger } from "../support/logger.js";
import { until } from "../support/time.js";
import { NO_SERVER, PG_TEST_URL } from "./postgres-factory.js";

const BUDGET_MS = 1500;
/** The run's wind-up after its deadline (store-bound.ts). */
const WIND_UP_MS = 1000;

const endless = defineProcessor<number>({
  name: "endless",
  batchSize: 5,
  // No retry to spend: a commit cut at the end still suspends the run, it does not fail it.
  retry: false,
  entities: function* ({ after }) {
    for (let n = Number(after ?? 0) + 1; ; n++) yield n;
  },
  id: (n) => n,
  async processBatch() {
    await new Promise((resolve) => setTimeout(resolve, 10));
  },
});

/** `work`, or a failure naming `what` once `ms` have passed (the test must end either way). */
async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe("a PostgreSQL store stalled on a locked checkpoint row", { skip: NO_SERVER }, () => {
  it("ends the run by its deadline, and close() does not wait for the lock", {
    timeout: 30_000,
  }, async () => {
    const schema = `t_${randomBytes(6).toString("hex")}`;
    const store = await PostgresStore.open({
      connectionString: PG_TEST_URL as string,
      schema,
      poolSize: 1,
    });
    const locker = new pg.Client({ connectionString: PG_TEST_URL });
    await locker.connect();
    const { logger, lines } = captureLogger();
    try {
      let committed = 0;
      const started = performance.now();
      const running = run(endless, {
        store,
        logger,
        timeBudgetMs: BUDGET_MS,
        deadlineMarginMs: 100,
        onProgress: (progress) => {
          committed = progress.completed;
        },
      });
      await until("a first commit", () => committed > 0);
      await locker.query(`BEGIN; SELECT * FROM ${schema}.checkpoints FOR UPDATE`);
      const result = await within(running, 15_000, "the run with its checkpoint row locked");
      const tookMs = performance.now() - started;
      assert.equal(result.status, "suspended");
      assert.equal(result.reason, "deadline");
      assert.ok(tookMs < BUDGET_MS + WIND_UP_MS + 1000, `the run took ${Math.round(tookMs)} ms`);
      // The cancel found no free connection: whether the commit lands is not known, and said.
      assert.ok(result.error instanceof StoreError, String(result.error));
      assert.equal(result.error.code, "OUTCOME_UNKNOWN");
      assert.match(result.error.message, /may still land/);
      assert.match(lines.join("\n"), /Could not release the lease of endless\/default/);

      const closing = performance.now();
      await within(store.close(), 15_000, "close()");
      assert.ok(performance.now() - closing < 1000, "close() ended the stuck connection");
    } finally {
      await locker.query("ROLLBACK").catch(() => {});
      await store.close();
      await locker.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await locker.end();
    }
  });
});
