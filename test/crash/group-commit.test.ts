import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import type { GroupCommitStats } from "../../src/stores/group-commit.js";
import { NO_SERVER, openTestPool, PG_TEST_URL, type TestPool } from "../stores/postgres-factory.js";
import { seeded } from "../support/random.js";
import type { GroupChildConfig } from "./group-child.js";

const CHILD = fileURLToPath(new URL("./group-child.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PARTITIONS = Array.from({ length: 8 }, (_, i) => `p${i}`);
const ENTITIES = 120;
const BATCH = 4;
const KILLS = 3;
/**
 * 30 batches of 30 ms: a child that starts from scratch runs about a second, so three kills
 * at most 220 ms after each child's first batch always land mid-run.
 */
const BATCH_DELAY_MS = 30;

interface ChildEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const live = new Set<ChildProcess>();

/** Starts the child; `processing` resolves at its first batch, `ended` when it exits. */
function start(config: GroupChildConfig) {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD], {
    cwd: ROOT,
    env: { ...process.env, WAYMARK_GROUP_CRASH: JSON.stringify(config) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  let stdout = "";
  let stderr = "";
  let processing: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    processing = resolve;
  });
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    if (stdout.includes("processing\n")) processing();
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const ended = new Promise<ChildEnd>((resolve) => {
    child.once("close", (code, signal) => {
      live.delete(child);
      processing();
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, started, ended };
}

/**
 * Kills the child `KILLS` times at seeded random moments after its first batch (eight runs
 * committing together), then lets one run to the end; returns how many kills landed and the
 * last child's result line. A child that ended by itself before its kill is the last one:
 * starting another would begin a new backfill and process everything again.
 */
async function killAndFinish(config: GroupChildConfig, seed: number) {
  const random = seeded(seed);
  let kills = 0;
  let last: ChildEnd | null = null;
  for (let i = 0; i < KILLS && last === null; i++) {
    const { child, started, ended } = start(config);
    await started;
    await delay(20 + Math.floor(random() * 200));
    const killed = child.exitCode === null && child.signalCode === null && child.kill("SIGKILL");
    const end = await ended;
    if (killed && end.signal === "SIGKILL") kills++;
    else last = end;
  }
  last ??= await start(config).ended;
  assert.equal(last.code, 0, last.stderr);
  const line = last.stdout.trim().split("\n").at(-1) ?? "";
  return { kills, result: JSON.parse(line) as { status: string; groups: GroupCommitStats } };
}

/** The last child's runs committed together: the crash test exercises group commit. */
function assertGrouped(groups: GroupCommitStats) {
  assert.ok(groups.largest > 1, `commits went in groups: ${JSON.stringify(groups)}`);
}

/** Every entity of every partition in the log; none replayed more than a batch per kill. */
function assertAtMostOneBatchReplayed(log: string, kills: number) {
  const seen = new Map<string, number>();
  for (const line of readFileSync(log, "utf8").split("\n")) {
    if (line) seen.set(line, (seen.get(line) ?? 0) + 1);
  }
  for (const partition of PARTITIONS) {
    let replayed = 0;
    for (let n = 1; n <= ENTITIES; n++) {
      const times = seen.get(`${partition} ${n}`) ?? 0;
      assert.ok(times >= 1, `${partition} ${n} was processed`);
      replayed += times - 1;
    }
    assert.ok(
      replayed <= BATCH * kills,
      `${partition}: ${replayed} entities replayed after ${kills} kills (batch ${BATCH})`,
    );
  }
}

function assertExactlyOnce(rows: Array<{ partition: string; entity: number; writes: number }>) {
  const expected = PARTITIONS.slice(0, 4);
  assert.equal(rows.length, expected.length * ENTITIES, "one ctx.tx row per entity");
  for (const row of rows) {
    assert.ok(expected.includes(row.partition), `${row.partition} writes no ctx.tx rows`);
    assert.equal(Number(row.writes), 1, `${row.partition} ${row.entity} written once`);
  }
}

describe("group commit under SIGKILL", { timeout: 180_000 }, () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-group-crash-"));
  });
  afterEach(() => {
    for (const child of live) child.kill("SIGKILL");
    live.clear();
    rmSync(dir, { recursive: true, force: true });
  });

  it("on SQLite: exactly once through ctx.tx, at most one batch replayed outside it", async () => {
    const db = join(dir, "waymark.db");
    const setup = new Database(db);
    setup.exec(`CREATE TABLE effects (partition TEXT, entity INTEGER, writes INTEGER NOT NULL,
      PRIMARY KEY (partition, entity))`);
    setup.close();
    const config: GroupChildConfig = {
      store: `sqlite:${db}`,
      table: "effects",
      log: join(dir, "effects.log"),
      partitions: PARTITIONS,
      txPartitions: PARTITIONS.slice(0, 4),
      entities: ENTITIES,
      batchSize: BATCH,
      batchDelayMs: BATCH_DELAY_MS,
    };
    const { kills, result } = await killAndFinish(config, 7);
    assert.equal(result.status, "completed");
    assertGrouped(result.groups);
    assert.ok(kills > 0, "at least one kill landed mid-run");
    const check = new Database(db, { readonly: true });
    const rows = check.prepare("SELECT partition, entity, writes FROM effects").all();
    check.close();
    assertExactlyOnce(rows as Array<{ partition: string; entity: number; writes: number }>);
    assertAtMostOneBatchReplayed(config.log, kills);
  });

  describe("on PostgreSQL", { skip: NO_SERVER }, () => {
    let test: TestPool;
    beforeEach(async () => {
      test = openTestPool();
      await test.pool.query(`CREATE SCHEMA ${test.schema}`);
      await test.pool.query(
        `CREATE TABLE ${test.schema}.effects (partition TEXT, entity INT, writes INT NOT NULL,
           PRIMARY KEY (partition, entity))`,
      );
    });
    afterEach(() => test.dispose());

    it("exactly once through ctx.tx, at most one batch replayed outside it", async () => {
      const url = new URL(PG_TEST_URL as string);
      url.searchParams.set("schema", test.schema);
      const config: GroupChildConfig = {
        store: url.href,
        table: `${test.schema}.effects`,
        log: join(dir, "effects.log"),
        partitions: PARTITIONS,
        txPartitions: PARTITIONS.slice(0, 4),
        entities: ENTITIES,
        batchSize: BATCH,
        batchDelayMs: BATCH_DELAY_MS,
      };
      const { kills, result } = await killAndFinish(config, 11);
      assert.equal(result.status, "completed");
      assertGrouped(result.groups);
      assertGrouped(result.groups);
      assert.ok(kills > 0, "at least one kill landed mid-run");
      const { rows } = await test.pool.query<{ partition: string; entity: number; writes: number }>(
        `SELECT partition, entity, writes FROM ${test.schema}.effects`,
      );
      assertExactlyOnce(rows);
      assert.ok(existsSync(config.log));
      assertAtMostOneBatchReplayed(config.log, kills);
    });
  });
});
