import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { afterEach, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type PgBoss from "pg-boss";
import { defineProcessor } from "../../src/core/processor.js";
import { enqueuePartitions, workPartitions } from "../../src/integrations/pg-boss.js";
import type { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import { effectsProcessor } from "../fixtures/effects-processor.js";
import { NO_SERVER, PG_TEST_URL, type TestPool } from "../stores/postgres-factory.js";
import { BossFixture } from "../support/pg-boss-fixture.js";
import type { BossWorkerConfig } from "../support/pg-boss-worker.js";
import { until } from "../support/time.js";

const BOSS_WORKER = fileURLToPath(new URL("../support/pg-boss-worker.ts", import.meta.url));

const PARTITIONS = Array.from({ length: 6 }, (_, i) => `2024-01-${String(i + 10)}`);
const ENTITIES = 60;

describe("pg-boss fan-out", { skip: NO_SERVER, timeout: 120_000 }, () => {
  let fixture: BossFixture;
  let test: TestPool;
  let store: PostgresStore;

  beforeEach(async () => {
    fixture = await BossFixture.open();
    ({ test, store } = fixture);
  });

  afterEach(() => fixture.close());

  const startBoss = () => fixture.boss({ expireInSeconds: 2 });

  it("retries a busy partition later and hands a failure to pg-boss", async () => {
    const boss = await startBoss();
    let fail = true;
    const processor = defineProcessor<number>({
      name: "flaky",
      retry: false, // pg-boss owns the retries in this test, not the runner's backoff
      entities: () => [1, 2, 3],
      id: (n) => n,
      processBatch() {
        if (fail) throw new Error("quota exceeded");
      },
    });
    const held = await store.acquire({
      processor: "flaky",
      partition: "p",
      shard: "",
      owner: "someone-else",
      runId: "other",
      leaseTtlMs: 60_000,
      now: Date.now(),
    });
    if (!held.acquired) assert.fail("the test should hold the lease first");
    // Created first, so these retry settings win over workPartitions' plain createQueue.
    await boss.createQueue("waymark-flaky", {
      name: "waymark-flaky",
      retryLimit: 5,
      retryDelay: 1,
    });
    await workPartitions(boss, processor, {
      store,
      pollingIntervalSeconds: 0.5,
      busyRetrySeconds: 1,
      logger: false,
    });
    await enqueuePartitions(boss, processor, ["p"]);
    const history = () => store.listRuns({ processor: "flaky" });
    // A partition another runner holds is its work in progress: the job completes as busy,
    // with no history row, and is sent again for later.
    await until("a job to find the partition busy", async () => {
      const jobs = await test.pool.query(
        `SELECT 1 FROM ${test.schema}_boss.job WHERE name = 'waymark-flaky'
         AND state = 'completed' AND output->>'status' = 'busy'`,
      );
      return jobs.rows.length > 0;
    });
    assert.deepEqual(await history(), [], "a busy claim is no run");
    await store.release(held.lease, Date.now());
    await until("a failed run", async () => (await history()).some((r) => r.status === "failed"));
    // pg-boss records the thrown error on the job, which waits 1 s before its retry.
    await until("pg-boss to hold the error for a retry", async () => {
      const job = await test.pool.query<{ output: { message?: string } | null }>(
        `SELECT output FROM ${test.schema}_boss.job WHERE name = 'waymark-flaky'
         AND state = 'retry'`,
      );
      return /quota exceeded/.test(job.rows[0]?.output?.message ?? "");
    });
    fail = false;
    await until("pg-boss's retry to complete the partition", async () => {
      return (
        (await store.lastCompletedAt({ processor: "flaky", partition: "p", shard: "" })) !== null
      );
    });
  });

  it("runs every partition across two workers, suspending at the job deadline", async () => {
    const effects = `${test.schema}.effects`;
    const processor = effectsProcessor({ effects, entities: ENTITIES, batchSize: 5, delayMs: 40 });
    for (let i = 0; i < 2; i++) {
      const boss = await startBoss();
      // Each job may run 2 s; with 1.5 s kept free, a run suspends after about 0.5 s.
      await workPartitions(boss, processor, {
        store,
        deadlineMarginMs: 1500,
        pollingIntervalSeconds: 0.5,
        busyRetrySeconds: 1,
        logger: false,
      });
    }
    assert.equal(await enqueuePartitions(fixture.bosses[0] as PgBoss, processor, PARTITIONS), 6);

    await until("every partition to complete", async () => {
      const done = await Promise.all(
        PARTITIONS.map((partition) =>
          store.lastCompletedAt({ processor: "backfill", partition, shard: "" }),
        ),
      );
      return done.every((at) => at !== null);
    });
    const rows = await test.pool.query<{ n: string; twice: string }>(
      `SELECT count(*) AS n, count(*) FILTER (WHERE writes <> 1) AS twice FROM ${effects}`,
    );
    assert.deepEqual(rows.rows[0], { n: String(PARTITIONS.length * ENTITIES), twice: "0" });
    const runs = await store.listRuns({ processor: "backfill" });
    assert.ok(
      runs.some((r) => r.status === "suspended"),
      "the deadline suspended runs",
    );
    assert.ok(
      runs.some((r) => r.status === "completed" && (r.resumedFrom ?? 0) > 0),
      "continuation jobs resumed from checkpoints",
    );
    assert.equal(runs.filter((r) => r.status === "failed").length, 0);
  });

  it("backfills 20 partitions with 3 worker processes and forced suspensions", async () => {
    const config: BossWorkerConfig = {
      url: PG_TEST_URL as string,
      schema: test.schema,
      // 12 batches of at least 40 ms against a 300 ms deadline: every partition suspends.
      entities: 60,
      batchSize: 5,
      delayMs: 40,
      expireInSeconds: 2,
      deadlineMarginMs: 1700,
    };
    const enqueuer = await startBoss();
    const workers = Array.from({ length: 3 }, () =>
      spawn(process.execPath, ["--import", "tsx", BOSS_WORKER], {
        env: { ...process.env, WORKER: JSON.stringify(config) },
        stdio: ["ignore", "ignore", "inherit"],
      }),
    );
    const exited = workers.map((w) => new Promise((resolve) => w.on("close", resolve)));
    try {
      const dates = Array.from(
        { length: 20 },
        (_, i) => `2024-02-${String(i + 1).padStart(2, "0")}`,
      );
      const processor = defineProcessor<number>({
        name: "backfill",
        entities: () => [],
        id: (n) => n,
        processBatch() {},
      });
      await enqueuePartitions(enqueuer, processor, dates);
      await until("all 20 partitions to complete", async () => {
        const done = await Promise.all(
          dates.map((partition) =>
            store.lastCompletedAt({ processor: "backfill", partition, shard: "" }),
          ),
        );
        return done.every((at) => at !== null);
      });
      const effects = `${test.schema}.effects`;
      const rows = await test.pool.query<{ n: string; twice: string; owners: string }>(
        `SELECT count(*) AS n, count(*) FILTER (WHERE writes <> 1) AS twice,
           count(DISTINCT owner) AS owners FROM ${effects}`,
      );
      assert.equal(rows.rows[0]?.n, String(20 * 60), "every entity of every partition");
      assert.equal(rows.rows[0]?.twice, "0", "exactly once");
      assert.ok(Number(rows.rows[0]?.owners) >= 2, "more than one worker process did work");
      const runs = await store.listRuns({ processor: "backfill" });
      assert.ok(
        runs.filter((r) => r.status === "suspended").length >= 20,
        "deadlines suspended runs",
      );
      assert.ok(
        runs.some((r) => (r.resumedFrom ?? 0) > 0),
        "continuations resumed",
      );
    } finally {
      for (const w of workers) w.kill("SIGTERM");
      await Promise.all(exited);
    }
  });
});
