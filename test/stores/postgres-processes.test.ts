import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { afterEach, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import type { WorkerConfig } from "../support/pg-worker.js";
import { until } from "../support/time.js";
import { NO_SERVER, openTestPool, PG_TEST_URL, type TestPool } from "./postgres-factory.js";

const WORKER = fileURLToPath(new URL("../support/pg-worker.ts", import.meta.url));

/** One line a worker printed. */
interface WorkerEvent {
  pid: number;
  event: "sleeping" | "run" | "exit";
  partition?: string;
  owner?: string;
  status?: string;
  processed?: number;
  code?: string;
  pending?: string[];
}

interface Worker {
  child: ChildProcess;
  events: WorkerEvent[];
  exited: Promise<number | null>;
}

/** Polls `condition` until it holds, failing with `what` at the deadline (never a fixed sleep). */
// Several node processes on two cores with a real server: only with WAYMARK_TEST_PG_URL.
describe("PostgresStore across processes", { skip: NO_SERVER, timeout: 120_000 }, () => {
  let test: TestPool;
  let workers: Worker[] = [];

  beforeEach(async () => {
    test = openTestPool();
    const store = await PostgresStore.open({ pool: test.pool, schema: test.schema });
    await store.close();
    await test.pool.query(
      `CREATE TABLE ${test.schema}.effects (
         partition TEXT NOT NULL, entity INT NOT NULL, owner TEXT NOT NULL, writes INT NOT NULL,
         PRIMARY KEY (partition, entity))`,
    );
  });

  afterEach(async () => {
    for (const w of workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGKILL");
    }
    await Promise.all(workers.map((w) => w.exited));
    workers = [];
    await test.dispose();
  });

  function start(overrides: Partial<WorkerConfig>): Worker {
    const config: WorkerConfig = {
      url: PG_TEST_URL as string,
      schema: test.schema,
      partitions: ["p0"],
      entities: 200,
      batchSize: 10,
      leaseTtlMs: 1500,
      delayMs: 2,
      deadlineMs: 90_000,
      ...overrides,
    };
    const child = spawn(process.execPath, ["--import", "tsx", WORKER], {
      env: { ...process.env, WORKER: JSON.stringify(config) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const events: WorkerEvent[] = [];
    let buffered = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) if (line) events.push(JSON.parse(line) as WorkerEvent);
    });
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    const worker = { child, events, exited };
    workers.push(worker);
    return worker;
  }

  async function effectRows(): Promise<
    Array<{ partition: string; entity: number; owner: string; writes: number }>
  > {
    const result = await test.pool.query(
      `SELECT partition, entity, owner, writes FROM ${test.schema}.effects
       ORDER BY partition, entity`,
    );
    return result.rows;
  }

  /** Every entity of every partition written once, and each owner's effects one unbroken run. */
  async function assertExactlyOnceWithoutInterleaving(partitions: string[], entities: number) {
    const rows = await effectRows();
    assert.equal(rows.length, partitions.length * entities, "every entity has an effect");
    const twice = rows.filter((r) => r.writes !== 1);
    assert.deepEqual(twice, [], "no entity was written twice");
    const owners: string[] = [];
    for (const partition of partitions) {
      const sequence = rows.filter((r) => r.partition === partition).map((r) => r.owner);
      const blocks = sequence.filter((owner, i) => owner !== sequence[i - 1]);
      assert.equal(new Set(blocks).size, blocks.length, `owners of ${partition} never interleave`);
      owners.push(...blocks);
    }
    return owners;
  }

  it("eight processes racing for one partition: one owner at a time, exactly once", async () => {
    const racers = Array.from({ length: 8 }, () => start({ batchesPerRun: 3, entities: 300 }));
    const codes = await Promise.all(racers.map((w) => w.exited));
    assert.deepEqual(codes, Array(8).fill(0), "every racer finished");
    const owners = await assertExactlyOnceWithoutInterleaving(["p0"], 300);
    const racing = new Set(owners.map((o) => o.split("-")[0]));
    assert.ok(owners.length >= 10, `the lease changed hands (${owners.length} owners)`);
    assert.ok(racing.size >= 2, `more than one process won the lease (${racing.size})`);
    const runs = racers.flatMap((w) => w.events).filter((e) => e.event === "run");
    assert.ok(
      runs.some((e) => e.status === "busy"),
      "racers found the lease held",
    );
  });

  it("a runner paused past its lease is fenced on resume and commits nothing", async () => {
    const paused = start({ delayMs: 400, entities: 100 });
    await until("two batches committed", async () => (await effectRows()).length >= 20);
    // Stop it inside a batch's wait, before that batch opened its transaction.
    const seen = paused.events.length;
    await until("the next batch to start", () =>
      paused.events.slice(seen).some((e) => e.event === "sleeping"),
    );
    paused.child.kill("SIGSTOP");
    const before = (await effectRows()).length;
    const taker = start({ delayMs: 2, entities: 100 });
    assert.equal(await taker.exited, 0, "the second runner finished the partition");
    paused.child.kill("SIGCONT");
    assert.equal(await paused.exited, 0);
    const fenced = paused.events.find((e) => e.event === "run");
    assert.equal(fenced?.status, "failed");
    assert.equal(fenced?.code, "FENCED");
    const rows = await effectRows();
    const byPaused = rows.filter((r) => r.owner === fenced?.owner);
    assert.equal(byPaused.length, before, "nothing the paused runner did after the pause landed");
    await assertExactlyOnceWithoutInterleaving(["p0"], 100);
  });

  it("a worker killed mid-backfill: the others finish its partitions, exactly once", async () => {
    const partitions = ["d1", "d2", "d3", "d4", "d5", "d6"];
    const backfill = { partitions, entities: 150, delayMs: 15 };
    const victim = start(backfill);
    const others = [start({ ...backfill, partitions: [...partitions].reverse() }), start(backfill)];
    await until("the victim to commit some effects", async () => {
      const rows = await effectRows();
      return rows.some((r) => r.owner.startsWith(`${victim.child.pid}-`));
    });
    victim.child.kill("SIGKILL");
    const codes = await Promise.all(others.map((w) => w.exited));
    assert.deepEqual(codes, [0, 0], "the surviving workers completed every partition");
    await assertExactlyOnceWithoutInterleaving(partitions, 150);
    const rows = await effectRows();
    const cut = partitions.filter((p) => {
      const owners = rows.filter((r) => r.partition === p).map((r) => r.owner);
      return owners.some((o) => o.startsWith(`${victim.child.pid}-`)) && new Set(owners).size > 1;
    });
    assert.ok(cut.length >= 1, "another worker took over a partition the victim had started");
  });
});
