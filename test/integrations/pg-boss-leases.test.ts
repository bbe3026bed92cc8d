import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { enqueuePartitions, workPartitions } from "../../src/integrations/pg-boss.js";
import type { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import { effectsProcessor } from "../fixtures/effects-processor.js";
import { NO_SERVER, type TestPool } from "../stores/postgres-factory.js";
import { BossFixture } from "../support/pg-boss-fixture.js";
import { until } from "../support/time.js";

const KEY = { processor: "backfill", partition: "2024-03-01", shard: "" };

describe("pg-boss jobs agree with leases", { skip: NO_SERVER, timeout: 60_000 }, () => {
  let fixture: BossFixture;
  let test: TestPool;
  let store: PostgresStore;

  beforeEach(async () => {
    fixture = await BossFixture.open();
    ({ test, store } = fixture);
  });

  afterEach(() => fixture.close());

  const startBoss = () => fixture.boss();

  const effects = async () =>
    (
      await test.pool.query<{ entity: number; writes: number; owner: string }>(
        `SELECT entity, writes, owner FROM ${test.schema}.effects ORDER BY entity`,
      )
    ).rows;

  it("takes over a SIGKILLed worker's partition after its lease, not the job expiry", async () => {
    const leaseTtlMs = 2000;
    const config = {
      // 20 batches of at least 150 ms: about 3 s of work, killed early in it.
      entities: 40,
      batchSize: 2,
      delayMs: 150,
      // The job would wait a minute for pg-boss's expiry: the test ends long before.
      expireInSeconds: 60,
      leaseTtlMs,
    };
    // Both are ready before the job is sent: the one that takes it is killed a few batches
    // in, and the other, idle all along, takes over (a second worker started only then could
    // come up after the first had finished, on a loaded machine). One after the other: two
    // pg-boss instances creating one queue at once can deadlock in PostgreSQL.
    const workers = [await fixture.worker(config), await fixture.worker(config)];
    const enqueuer = await startBoss();
    await enqueuePartitions(enqueuer, { name: "backfill" }, [KEY.partition]);
    let written: Awaited<ReturnType<typeof effects>> = [];
    await until("a worker to commit a few batches", async () => {
      written = await effects();
      return written.length >= 6;
    });
    const first = workers.find((w) => String(w.pid) === written[0]?.owner);
    const second = workers.find((w) => w !== first);
    assert.ok(first && second, `the holder is one of the workers: ${written[0]?.owner}`);
    first.kill("SIGKILL");
    const killedAt = Date.now();
    await until(
      "the first worker to die",
      () => first.exitCode !== null || first.signalCode !== null,
    );
    assert.ok((await effects()).length < 40, "killed before it finished");
    // Far less than the job's 60 s expiry: the lease decides, not pg-boss.
    await until(
      "the partition to complete",
      async () => (await store.lastCompletedAt(KEY)) !== null,
      { timeoutMs: 15_000 },
    );
    const rows = await effects();
    assert.equal(rows.length, 40, "every entity written");
    assert.deepEqual(
      rows.filter((r) => r.writes !== 1).map((r) => r.entity),
      [],
      "each entity written once: the killed batch's writes were rolled back",
    );
    assert.deepEqual(
      [...new Set(rows.map((r) => r.owner))].sort(),
      [String(first.pid), String(second.pid)].sort(),
      "the second worker finished what the first started",
    );
    const runs = (await store.listRuns({ processor: "backfill" })).slice().reverse();
    const takeover = runs.find((r) => r.status === "completed");
    assert.ok(takeover, `a completed run in ${JSON.stringify(runs)}`);
    assert.ok((takeover.resumedFrom ?? 0) >= 6, "the takeover resumed from the checkpoint");
    const pickupMs = takeover.startedAt - killedAt;
    if (process.env.WAYMARK_TEST_REPORT) console.error(`takeover ${pickupMs} ms after SIGKILL`);
    // The lease expires leaseTtlMs after the last renewal; the watch job looks again within a
    // second of that, and the second worker polls every 0.5 s.
    assert.ok(
      pickupMs <= leaseTtlMs + 2000,
      `the takeover started ${pickupMs} ms after the kill; expected within leaseTtlMs (${leaseTtlMs}) + 2000`,
    );
    assert.equal(runs[0]?.status, "failed", "the killed run is recorded as failed");
    // The taking-over watch job cancels the dead worker's job once its run has ended, just
    // after the completion the wait above saw.
    const states = async () =>
      (
        await test.pool.query<{ state: string; n: string }>(
          `SELECT state, count(*) AS n FROM ${test.schema}_boss.job
           WHERE name = 'waymark-backfill' AND data->>'watch' IS NULL GROUP BY state`,
        )
      ).rows.map((r) => `${r.state} ${r.n}`);
    await until("the dead worker's job to be cancelled", async () =>
      (await states()).includes("cancelled 1"),
    );
    assert.deepEqual(
      await states(),
      ["cancelled 1"],
      "the dead worker's job was cancelled, so that pg-boss never retries it at its expiry",
    );
  });

  it("suspends a run before its job's expiry, set in code, and continues it", async () => {
    const boss = await startBoss();
    const table = `${test.schema}.effects`;
    const processor = effectsProcessor({
      effects: table,
      entities: 30,
      batchSize: 3,
      delayMs: 150,
    });
    // pg-boss's default expiry is 15 minutes; the worker sets 2 s on the queue and its jobs.
    await workPartitions(boss, processor, {
      store,
      jobExpirySeconds: 2,
      pollingIntervalSeconds: 0.5,
      logger: false,
    });
    await enqueuePartitions(boss, processor, [KEY.partition]);
    await until("the partition to complete", async () => {
      return (await store.lastCompletedAt(KEY)) !== null;
    });
    const runs = await store.listRuns({ processor: "backfill" });
    const suspended = runs.filter((r) => r.status === "suspended");
    assert.ok(suspended.length >= 1, `a run suspended, in ${JSON.stringify(runs)}`);
    for (const r of suspended) {
      assert.equal(r.reason, "deadline");
      const ms = (r.finishedAt ?? Number.POSITIVE_INFINITY) - r.startedAt;
      assert.ok(ms < 2000, `a suspended run lasted ${ms} ms, past its job's 2 s expiry`);
    }
    assert.ok(
      runs.some((r) => r.status === "completed" && (r.resumedFrom ?? 0) > 0),
      "a continuation job resumed it",
    );
    const rows = await effects();
    assert.equal(rows.length, 30, "every entity written");
    assert.ok(
      rows.every((r) => r.writes === 1),
      "each entity written once",
    );
    const expiries = await test.pool.query<{ expire: string }>(
      `SELECT DISTINCT extract(epoch FROM expire_in)::int AS expire FROM ${test.schema}_boss.job
       WHERE name = 'waymark-backfill'`,
    );
    assert.deepEqual(
      expiries.rows.map((r) => Number(r.expire)),
      [2],
      "every job of the queue, the enqueued one included, expires after 2 s",
    );
  });
});
