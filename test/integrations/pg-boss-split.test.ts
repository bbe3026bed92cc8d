import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { afterEach, beforeEach, describe, it } from "node:test";
import { enqueuePartitions } from "../../src/integrations/pg-boss.js";
import { NO_SERVER, type TestPool } from "../stores/postgres-factory.js";
import { BossFixture } from "../support/pg-boss-fixture.js";
import { until } from "../support/time.js";

const ENTITIES = 200;
// 40 batches of at least 50 ms on one partition: the whole backfill, skewed to one partition.
const CONFIG = {
  entities: ENTITIES,
  batchSize: 5,
  delayMs: 50,
  expireInSeconds: 60,
  leaseTtlMs: 2000,
  splittable: true,
};

// Idle pg-boss workers ask the running partition to split and run the shards it splits off;
// a worker killed while it runs one is taken over by another.
describe("pg-boss workers split a running partition", { skip: NO_SERVER, timeout: 90_000 }, () => {
  let fixture: BossFixture;
  let test: TestPool;
  beforeEach(async () => {
    fixture = await BossFixture.open();
    ({ test } = fixture);
  });
  afterEach(() => fixture.close());

  const rows = async <T extends object>(sql: string) =>
    (await test.pool.query<T & Record<string, unknown>>(sql.replaceAll("$t.", `${test.schema}.`)))
      .rows;
  const effects = () =>
    rows<{ entity: number; writes: number; owner: string }>(
      "SELECT entity, writes, owner FROM $t.effects ORDER BY entity",
    );

  /** Starts `n` workers one after the other (pg-boss creating one queue at once can deadlock). */
  async function workers(n: number): Promise<ChildProcess[]> {
    const started: ChildProcess[] = [];
    for (let i = 0; i < n; i++) started.push(await fixture.worker(CONFIG));
    return started;
  }

  async function enqueue(): Promise<void> {
    await enqueuePartitions(await fixture.boss(), { name: "backfill" }, ["big"]);
  }

  /** Every entity written once, and no checkpoint left: the partition and its shards done. */
  async function completed(): Promise<boolean> {
    const left = await rows("SELECT 1 FROM $t.checkpoints");
    return left.length === 0 && (await effects()).length === ENTITIES;
  }

  function assertOnce(written: Awaited<ReturnType<typeof effects>>): void {
    assert.equal(written.length, ENTITIES, "every entity written");
    assert.deepEqual(
      written.filter((r) => r.writes !== 1).map((r) => r.entity),
      [],
      "each entity written once",
    );
  }

  it("idle workers split a skewed partition; a shard's killed worker is taken over", async () => {
    const started = await workers(3);
    await enqueue();
    // One worker takes the partition; the idle ones ask it to split and run what it splits
    // off. The first that runs a split-off shard is SIGKILLed a few batches in.
    let victim: ChildProcess | undefined;
    let done = 0;
    await until("a worker to run a split-off shard", async () => {
      const [shard] = await rows<{ lease_owner: string | null; completed: number }>(
        `SELECT lease_owner, completed FROM $t.checkpoints
         WHERE shard LIKE '~%' AND lease_owner IS NOT NULL AND completed >= 10`,
      );
      const pid = Number(shard?.lease_owner?.split(":")[1]);
      victim = started.find((w) => w.pid === pid);
      done = Number(shard?.completed ?? 0);
      return victim !== undefined;
    });
    victim?.kill("SIGKILL");
    await until("the partition and its shards to complete", completed);
    const written = await effects();
    assertOnce(written);

    // The partition may split more than once: its holder keeps the ids up to the lowest point.
    const splits = await rows<{ shard: string; at_cursor: string }>(
      "SELECT shard, at_cursor FROM $t.splits",
    );
    const points = splits.filter((r) => r.shard === "").map((r) => Number(JSON.parse(r.at_cursor)));
    assert.ok(points.length > 0, "the whole partition was split");
    const at = Math.min(...points);
    const holder = written[0]?.owner;
    assert.ok(
      written.some((r) => r.entity > at && r.owner !== holder),
      `another worker than the partition's ran what it split off at ${at}`,
    );

    const runs = await rows<{ shard: string; status: string; resumed_from: number | null }>(
      "SELECT shard, status, resumed_from FROM $t.runs WHERE shard LIKE '~%' ORDER BY started_at",
    );
    const killed = runs.find((r) => r.status === "failed");
    assert.ok(killed, `the killed run of a shard, in ${JSON.stringify(runs)}`);
    const resumed = runs.find(
      (r) => r.shard === killed.shard && r.status === "completed" && Number(r.resumed_from) >= done,
    );
    assert.ok(resumed, `the shard resumed from its checkpoint, in ${JSON.stringify(runs)}`);
  });
});
