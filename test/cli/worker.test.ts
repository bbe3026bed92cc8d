import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { afterEach, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import PgBoss from "pg-boss";
import type { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import { NO_SERVER, PG_TEST_URL, type TestPool } from "../stores/postgres-factory.js";
import { BossFixture } from "../support/pg-boss-fixture.js";
import { until } from "../support/time.js";
import { CLI, ROOT, waymark } from "./cli.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/worker-processors.ts", import.meta.url));
const NONE = fileURLToPath(new URL("../fixtures/no-processors.ts", import.meta.url));
const PARTITIONS = ["2024-01-01", "2024-01-02", "2024-01-03"];
const ENTITIES = 40;

describe("waymark worker: loading processors", () => {
  it("names the file when it cannot be loaded", async () => {
    const result = await waymark([
      "worker",
      "--store",
      "postgres://x@127.0.0.1:1/db",
      "--processors",
      "./missing.js",
    ]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Cannot find .*missing\.js/);
  });

  it("refuses a module that exports no processor", async () => {
    const result = await waymark([
      "worker",
      "--store",
      "postgres://x@127.0.0.1:1/db",
      "--processors",
      NONE,
    ]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /no-processors\.ts exports no processor/);
  });

  it("refuses a bad --concurrency and an enqueue without partitions", async () => {
    const worker = await waymark([
      "worker",
      "--store",
      "postgres://x@h/db",
      "--processors",
      FIXTURE,
      "--concurrency",
      "0",
    ]);
    assert.equal(worker.code, 2);
    assert.match(worker.stderr, /--concurrency expects a whole number from 1 up, got "0"/);
    const expiry = await waymark([
      "worker",
      "--store",
      "postgres://x@h/db",
      "--processors",
      FIXTURE,
      "--job-expiry",
      "soon",
    ]);
    assert.equal(expiry.code, 2, expiry.stderr);
    assert.match(expiry.stderr, /Invalid --job-expiry "soon": expected a positive duration/);
    const enqueue = await waymark([
      "enqueue",
      "backfill",
      "--store",
      "postgres://x@h/db",
      "--from",
      "2024-02-30",
      "--to",
      "2024-03-01",
    ]);
    assert.equal(enqueue.code, 2);
    assert.match(enqueue.stderr, /--from expects a date as YYYY-MM-DD, got "2024-02-30"/);
  });
});

describe("waymark worker on PostgreSQL", { skip: NO_SERVER, timeout: 120_000 }, () => {
  let fixture: BossFixture;
  let test: TestPool;
  let store: PostgresStore;
  let storeUrl: string;
  let children: ChildProcess[] = [];

  beforeEach(async () => {
    fixture = await BossFixture.open();
    ({ test, store } = fixture);
    const url = new URL(PG_TEST_URL as string);
    url.searchParams.set("schema", test.schema);
    storeUrl = url.href;
  });

  afterEach(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    children = [];
    await fixture.close();
  });

  const env = () => ({
    EFFECTS_TABLE: `${test.schema}.effects`,
    ENTITIES: String(ENTITIES),
    BATCH_DELAY_MS: "60",
    PGBOSS_SCHEMA: `${test.schema}_boss`,
  });

  function startWorker(extraEnv: NodeJS.ProcessEnv = {}, args: string[] = []) {
    const child = spawn(
      process.execPath,
      [...CLI, "worker", "--store", storeUrl, "--processors", FIXTURE, ...args],
      {
        cwd: ROOT,
        env: { ...process.env, ...env(), ...extraEnv },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    children.push(child);
    let out = "";
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    return { child, exited, output: () => out, stdout: () => stdout };
  }

  async function effects(): Promise<Array<{ partition: string; entity: number; writes: number }>> {
    const result = await test.pool.query<{ partition: string; entity: number; writes: number }>(
      `SELECT partition, entity, writes FROM ${test.schema}.effects`,
    );
    return result.rows;
  }

  it("stops at a batch boundary on SIGTERM, releases the lease, and a restart finishes", async () => {
    const enqueued = await waymark(
      ["enqueue", "backfill", "--store", storeUrl, "--partitions", PARTITIONS.join(",")],
      { env: env() },
    );
    assert.equal(enqueued.code, 0, enqueued.stderr);
    assert.match(enqueued.stdout, /Enqueued 3 partition\(s\) of backfill/);

    const first = startWorker();
    await until(
      "the first worker to commit some batches",
      async () => (await effects()).length >= 10,
    );
    first.child.kill("SIGTERM");
    assert.equal(await first.exited, 0, first.output());
    assert.match(first.output(), /SIGTERM, stopping at the next batch boundary/);
    const done = (await effects()).length;
    assert.ok(done < PARTITIONS.length * ENTITIES, "the worker was stopped mid-backfill");
    for (const partition of PARTITIONS) {
      const checkpoint = await store.getCheckpoint({ processor: "backfill", partition, shard: "" });
      assert.equal(checkpoint?.leaseOwner ?? null, null, `${partition}'s lease was released`);
    }

    const second = startWorker({}, ["--json"]);
    await until("every partition to complete", async () => {
      for (const partition of PARTITIONS) {
        if ((await store.lastCompletedAt({ processor: "backfill", partition, shard: "" })) === null)
          return false;
      }
      return true;
    });
    second.child.kill("SIGINT");
    assert.equal(await second.exited, 0, second.output());
    // --json: the worker's log, and its runs' lines, as one JSON object per line on stderr.
    assert.equal(second.stdout(), "");
    const lines = second
      .output()
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { level: string; message: string; runId?: string });
    assert.match(lines[0]?.message ?? "", /^worker ready: backfill/);
    assert.ok(lines.some((l) => /^Completed backfill\//.test(l.message) && l.runId));
    assert.match(lines.at(-1)?.message ?? "", /^worker stopped/);
    const rows = await effects();
    assert.equal(rows.length, PARTITIONS.length * ENTITIES);
    assert.deepEqual(
      rows.filter((r) => r.writes !== 1),
      [],
      "every entity's ctx.tx effect was written exactly once",
    );
  });

  it("backfills 10 partitions x 2 shards with 3 worker processes and forced suspensions", async () => {
    // Jobs expire after 2 s and workers keep 1 s free: each shard (10 batches of >= 110 ms)
    // suspends at least once and resumes from its checkpoint on a continuation job.
    const boss = new PgBoss({
      connectionString: PG_TEST_URL as string,
      schema: `${test.schema}_boss`,
      supervise: false,
      schedule: false,
    });
    await boss.start();
    await boss.createQueue("waymark-backfill", { name: "waymark-backfill", expireInSeconds: 2 });
    await boss.stop({ graceful: false, wait: true, timeout: 1000 });
    const sharded = { SHARDED: "1", BATCH_SIZE: "2", BATCH_DELAY_MS: "110" };
    const enqueued = await waymark(
      ["enqueue", "backfill", "--store", storeUrl, "--processors", FIXTURE].concat([
        "--from",
        "2024-02-01",
        "--to",
        "2024-02-10",
      ]),
      { env: { ...env(), ...sharded } },
    );
    assert.equal(enqueued.code, 0, enqueued.stderr);
    assert.match(enqueued.stdout, /Enqueued 10 partition\(s\) of backfill as 20 shard jobs/);

    const workers = [0, 1, 2].map(() => startWorker(sharded, ["--concurrency", "2"]));
    const dates = Array.from({ length: 10 }, (_, i) => `2024-02-${String(i + 1).padStart(2, "0")}`);
    await until(
      "all 20 shards to complete",
      async () => {
        for (const date of dates) {
          for (const shard of ["0", "1"]) {
            if (
              (await store.lastCompletedAt({ processor: "backfill", partition: date, shard })) ===
              null
            ) {
              return false;
            }
          }
        }
        return true;
      },
      { timeoutMs: 90_000 },
    );
    for (const w of workers) w.child.kill("SIGTERM");
    assert.deepEqual(await Promise.all(workers.map((w) => w.exited)), [0, 0, 0]);

    const rows = await effects();
    assert.equal(rows.length, 10 * ENTITIES, "every entity of every partition");
    assert.deepEqual(
      rows.filter((r) => r.writes !== 1),
      [],
      "exactly once across shards",
    );
    const runs = await store.listRuns({ processor: "backfill", limit: 1000 });
    const counts = new Map<string, number>();
    for (const r of runs) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
    assert.ok(
      (counts.get("suspended") ?? 0) >= 20,
      `deadlines suspended runs: ${JSON.stringify(Object.fromEntries(counts))}`,
    );
    assert.ok(
      runs.some((r) => (r.resumedFrom ?? 0) > 0),
      "continuations resumed",
    );
    assert.ok(
      runs.every((r) => r.shard === "0" || r.shard === "1"),
      "runs are recorded per shard",
    );
  });
});
