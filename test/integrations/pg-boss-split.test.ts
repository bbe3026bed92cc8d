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

  it("an idle worker splits a skewed partition, and another worker runs the new shard", async () => {
    await workers(2);
    await enqueue();
    await until("the partition and its shards to complete", completed);
    const written = await effects();
    assertOnce(written);
    const splits = await rows<{ shard: string; at_cursor: string }>(
      "SELECT shard, at_cursor FROM $t.splits ORDER BY split_at",
    );
    assert.ok(splits.length >= 1, "the partition was split");
    const first = splits[0] as { shard: string; at_cursor: string };
    assert.equal(first.shard, "", "the whole partition split first");
    const at = Number(JSON.parse(first.at_cursor));
    const holder = new Set(written.filter((r) => r.entity <= at).map((r) => r.owner));
    assert.equal(holder.size, 1, "one worker ran the partition up to the split point");
    const rest = new Set(written.filter((r) => r.entity > at).map((r) => r.owner));
    assert.ok(
      [...rest].some((owner) => !holder.has(owner)),
      `another worker ran the shard split off at ${at}`,
    );
  });

  it("a shard whose worker is SIGKILLed resumes on another worker", async () => {
    const started = await workers(3);
    await enqueue();
    let victim: ChildProcess | undefined;
    let done = 0;
    await until("a worker to run a split-off shard", async () => {
      const [shard] = await rows<{ lease_owner: string | null; completed: number }>(
        "SELECT lease_owner, completed FROM $t.checkpoints WHERE shard LIKE '~%' AND lease_owner IS NOT NULL AND completed >= 10",
      );
      const pid = Number(shard?.lease_owner?.split(":")[1]);
      victim = started.find((w) => w.pid === pid);
      done = Number(shard?.completed ?? 0);
      return victim !== undefined;
    });
    victim?.kill("SIGKILL");
    await until("the partition and its shards to complete", completed);
    assertOnce(await effects());
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
