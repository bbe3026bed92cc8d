import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import type { WorkerConfig } from "../support/pg-worker.js";
import {
  NO_PRIVATE_CLUSTER,
  type PrivateCluster,
  startPrivateCluster,
} from "../support/private-cluster.js";
import { until } from "../support/time.js";

const WORKER = fileURLToPath(new URL("../support/pg-worker.ts", import.meta.url));
const PARTITIONS = ["a", "b", "c", "d"];
const ENTITIES = 120;

interface RunEvent {
  event: string;
  message?: string;
  partition?: string;
  status?: string;
  code?: string;
  pending?: string[];
}

// The server is restarted under the runs, so it is a private cluster and never the shared one.
describe("PostgreSQL restarted under running workers", {
  skip: NO_PRIVATE_CLUSTER,
  timeout: 60_000,
}, () => {
  let cluster: PrivateCluster;
  let store: PostgresStore;
  const children: ChildProcess[] = [];

  before(async () => {
    cluster = startPrivateCluster();
    store = await PostgresStore.open({
      connectionString: cluster.url,
      schema: "waymark",
      poolSize: 2,
    });
    await store.pool.query(
      `CREATE TABLE waymark.effects (partition TEXT NOT NULL, entity INT NOT NULL,
         owner TEXT NOT NULL, writes INT NOT NULL, PRIMARY KEY (partition, entity))`,
    );
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await store?.close();
    cluster?.destroy();
  });

  function startWorker() {
    const config: WorkerConfig = {
      url: cluster.url,
      schema: "waymark",
      partitions: PARTITIONS,
      entities: ENTITIES,
      batchSize: 5,
      leaseTtlMs: 1500,
      delayMs: 15,
      deadlineMs: 40_000,
      retryDelayMs: 200,
      warnings: true,
    };
    const child = spawn(process.execPath, ["--import", "tsx", WORKER], {
      env: { ...process.env, WORKER: JSON.stringify(config) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    const events: RunEvent[] = [];
    let buffered = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) if (line) events.push(JSON.parse(line) as RunEvent);
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    return { events, exited, stderr: () => stderr };
  }

  async function progress(): Promise<Map<string, number>> {
    const done = new Map<string, number>();
    for (const partition of PARTITIONS) {
      const checkpoint = await store.getCheckpoint({ processor: "race", partition, shard: "" });
      const completedAt = await store.lastCompletedAt({ processor: "race", partition, shard: "" });
      done.set(partition, completedAt !== null ? ENTITIES : (checkpoint?.completed ?? 0));
    }
    return done;
  }

  it("fails the runs in flight cleanly, keeps committed checkpoints, and a rerun loses nothing", async () => {
    const workers = [startWorker(), startWorker()];
    // Both workers are past opening the store and working before the server goes away.
    await until("both workers to start batches", () =>
      workers.every((w) => w.events.some((e) => e.event === "sleeping")),
    );
    await until("batches to commit before the restart", async () => {
      const rows = await store.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM waymark.effects",
      );
      return (rows.rows[0]?.n ?? 0) >= 40;
    });
    const beforeRestart = await progress();
    assert.ok(
      [...beforeRestart.values()].some((n) => n < ENTITIES),
      "the restart comes while partitions are still in progress",
    );
    cluster.restart();

    // The first read after the restart: nothing committed before it was lost. A pooled
    // connection the restart cut fails once with STORE_UNAVAILABLE; the next one reconnects.
    let afterRestart = new Map<string, number>();
    await until("the store to answer after the restart", async () => {
      try {
        afterRestart = await progress();
        return true;
      } catch (error) {
        assert.equal((error as { code?: string }).code, "STORE_UNAVAILABLE");
        return false;
      }
    });
    for (const [partition, n] of beforeRestart) {
      assert.ok(
        (afterRestart.get(partition) ?? 0) >= n,
        `${partition} kept its ${n} committed entities`,
      );
    }

    // The workers retry on their own (their loop is the rerun) until every partition completes.
    const codes = await Promise.all(workers.map((w) => w.exited));
    assert.deepEqual(codes, [0, 0], workers.map((w) => w.stderr()).join("\n"));
    const runs = workers.flatMap((w) => w.events).filter((e) => e.event === "run");
    // A batch the restart cut is retried by the run (retry policy), or its run fails and the
    // worker runs the partition again; either way something noticed the restart.
    const failed = runs.filter((r) => r.status === "failed");
    const events = workers.flatMap((w) => w.events);
    const retried = events.filter(
      (e) => e.event === "warn" && /failed \(attempt/.test(e.message ?? ""),
    );
    assert.ok(
      failed.length + retried.length > 0,
      "some batch was in flight when the server went away",
    );
    for (const partition of PARTITIONS) {
      assert.ok(
        runs.some((r) => r.partition === partition && r.status === "completed"),
        `${partition} completed`,
      );
    }
    const effects = await store.pool.query<{ partition: string; entity: number; writes: number }>(
      "SELECT partition, entity, writes FROM waymark.effects",
    );
    assert.equal(effects.rows.length, PARTITIONS.length * ENTITIES, "no entity was lost");
    assert.deepEqual(
      effects.rows.filter((r) => r.writes !== 1),
      [],
      "every ctx.tx effect was written exactly once",
    );
    const byCode = new Map<string, number>();
    for (const f of failed) byCode.set(f.code ?? "?", (byCode.get(f.code ?? "?") ?? 0) + 1);
    console.log(
      `restart: ${retried.length} batch retries; runs failed, by error code: ` +
        JSON.stringify(Object.fromEntries(byCode)),
    );
  });
});
