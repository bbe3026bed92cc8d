// A store that stalls under a run (its checkpoint row locked by another session, the SQLite
// file's write lock held by another connection) does not keep `waymark run` alive past its time
// budget, nor past the shutdown grace after SIGTERM: each store call then has the time the run
// has left, and the run ends, reading back what it can and saying what it could not do.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { afterEach, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import pg from "pg";
import { NO_SERVER, PG_TEST_URL } from "../stores/postgres-factory.js";
import { until } from "../support/time.js";
import { type CliResult, type LiveCli, startWaymark } from "./cli.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/stall-processors.ts", import.meta.url));
const BUDGET_MS = 5000;
/** `shutdownGraceMs`'s default, which `waymark run` keeps. */
const GRACE_MS = 5000;
/** The run's wind-up after its end (store-bound.ts), plus room for a loaded machine. */
const SLACK_MS = 1000 + 2000;
/** SqliteStore's default busyTimeoutMs: a lock wait holds the process, signals included. */
const SQLITE_BUSY_MS = 5000;

/** One store stalled from another session of the test's own. */
interface Stall {
  readonly url: string;
  /** How long a signal may take to be seen: a synchronous lock wait holds the process. */
  readonly signalLatencyMs: number;
  /** The checkpoint's committed count, or null before the first commit. */
  committed(): Promise<number | null>;
  /** Locks the checkpoint from another session, until `unlock`. */
  lock(): Promise<void>;
  /** Whether a statement of the run waits on the lock now (when the store can tell). */
  waiting(): Promise<boolean>;
  unlock(): Promise<void>;
  /** The run's history rows. */
  runs(): Promise<Array<{ status: string; processed: number }>>;
  dispose(): Promise<void>;
}

function sqliteStall(): Stall {
  const dir = mkdtempSync(join(tmpdir(), "waymark-stall-"));
  const file = join(dir, "waymark.db");
  let holder: Database.Database | null = null;
  const read = <T>(sql: string): T[] => {
    if (!existsSync(file)) return [];
    const db = new Database(file, { readonly: true, timeout: 1000 });
    try {
      return db.prepare(sql).all() as T[];
    } catch {
      return []; // the run has not created its tables yet
    } finally {
      db.close();
    }
  };
  return {
    url: `sqlite:${file}`,
    signalLatencyMs: SQLITE_BUSY_MS,
    async committed() {
      const [row] = read<{ completed: number }>("SELECT completed FROM checkpoints");
      return row && row.completed > 0 ? row.completed : null;
    },
    async lock() {
      // A write transaction held by this process's own connection: the run's writes wait.
      holder = new Database(file, { timeout: 10_000 });
      holder.exec("BEGIN IMMEDIATE");
    },
    async waiting() {
      return true; // SQLite cannot tell; the run meets the lock at its next commit
    },
    async unlock() {
      holder?.exec("ROLLBACK");
      holder?.close();
      holder = null;
    },
    async runs() {
      return read("SELECT status, processed FROM runs");
    },
    async dispose() {
      await this.unlock();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresStall(): Stall {
  const schema = `t_stall_${randomBytes(5).toString("hex")}`;
  const url = new URL(PG_TEST_URL as string);
  url.searchParams.set("schema", schema);
  const pool = new pg.Pool({ connectionString: PG_TEST_URL, max: 2 });
  let holder: pg.PoolClient | null = null;
  const table = `"${schema}".checkpoints`;
  return {
    url: url.href,
    signalLatencyMs: 0,
    async committed() {
      const exists = await pool.query("SELECT to_regclass($1) AS t", [table]);
      if (exists.rows[0]?.t === null) return null;
      const { rows } = await pool.query<{ completed: string }>(`SELECT completed FROM ${table}`);
      const completed = Number(rows[0]?.completed ?? 0);
      return completed > 0 ? completed : null;
    },
    async lock() {
      holder = await pool.connect();
      await holder.query(`BEGIN; SELECT * FROM ${table} FOR UPDATE`);
    },
    async waiting() {
      const { rows } = await pool.query(
        `SELECT 1 FROM pg_stat_activity
         WHERE wait_event_type = 'Lock' AND position($1 in query) > 0`,
        [schema],
      );
      return rows.length > 0;
    },
    async unlock() {
      await holder?.query("ROLLBACK");
      holder?.release();
      holder = null;
    },
    async runs() {
      const { rows } = await pool.query(`SELECT status, processed FROM "${schema}".runs`);
      return rows.map((r) => ({ status: r.status, processed: Number(r.processed) }));
    },
    async dispose() {
      await this.unlock();
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    },
  };
}

/** The child's exit, or a failure (and the child killed) when it outlives `ms`. */
async function exitWithin(live: LiveCli, ms: number, what: string): Promise<CliResult> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      live.child.kill("SIGKILL");
      reject(new Error(`${what}: still running ${ms} ms on\n${live.output.stderr}`));
    }, ms);
  });
  try {
    return await Promise.race([live.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The count the summary line reports the run suspended at: `suspended  p  deadline at 155/?`. */
function suspendedAt(stdout: string): number {
  const match = /suspended\s+p\s+\w+ at (\d+)\//.exec(stdout);
  assert.ok(match, `no suspended line in:\n${stdout}`);
  return Number(match[1]);
}

const LEGS = [
  { name: "SQLite", open: sqliteStall, skip: false as const },
  { name: "PostgreSQL", open: postgresStall, skip: NO_SERVER },
];

for (const leg of LEGS) {
  describe(`a ${leg.name} store that stalls under waymark run`, { skip: leg.skip }, () => {
    let stall: Stall;
    beforeEach(() => {
      stall = leg.open();
    });
    afterEach(() => stall.dispose());

    it("does not keep a run with --time-budget 5s alive past budget + grace", async (t) => {
      const live = startWaymark(
        ["run", FIXTURE, "steady", "--partition", "p", "--time-budget", "5s", "--store", stall.url],
        {},
      );
      await live.waitFor(/Running steady/);
      const started = performance.now();
      await until("a first commit", async () => (await stall.committed()) !== null);
      await stall.lock();
      const result = await exitWithin(live, 40_000, "the run with a 5 s budget");
      const tookMs = performance.now() - started;
      t.diagnostic(`exited ${Math.round(tookMs)} ms after the run started`);
      assert.equal(result.code, 75, result.stderr);
      assert.ok(
        tookMs < BUDGET_MS + GRACE_MS,
        `exited ${Math.round(tookMs)} ms after it started, past its 5 s budget + 5 s grace`,
      );
      // What it reports is what the store holds: the stalled commit did not land.
      assert.equal(suspendedAt(result.stdout), await stall.committed());
      assert.match(result.stderr, /Could not release the lease of steady\/p: .*expires by itself/);
      await stall.unlock();
      if (leg.name === "PostgreSQL") {
        // The history row is written beside the locked checkpoint row.
        assert.deepEqual(
          (await stall.runs()).map((r) => r.status),
          ["suspended"],
        );
      } else {
        // The whole file was locked: the run says it could not write its history row either.
        assert.match(result.stderr, /Could not record run .* in history: .*stayed locked/);
      }
    });

    it("does not keep a run sent SIGTERM alive past the 5 s grace", async (t) => {
      const live = startWaymark(
        ["run", FIXTURE, "steady", "--partition", "p", "--store", stall.url],
        {},
      );
      await until("a first commit", async () => (await stall.committed()) !== null);
      await stall.lock();
      await until("the run waiting on the lock", () => stall.waiting());
      const signalled = performance.now();
      live.child.kill("SIGTERM");
      const result = await exitWithin(live, 40_000, "the run sent SIGTERM");
      const tookMs = performance.now() - signalled;
      t.diagnostic(`exited ${Math.round(tookMs)} ms after SIGTERM`);
      assert.equal(result.code, 75, result.stderr);
      // On SQLite a signal that arrives during a lock wait is seen when the wait ends.
      const limit = stall.signalLatencyMs + GRACE_MS + SLACK_MS;
      assert.ok(
        tookMs < limit,
        `exited ${Math.round(tookMs)} ms after SIGTERM, past ${limit} ms:\n${result.stderr}`,
      );
      assert.equal(suspendedAt(result.stdout), await stall.committed());
    });
  });
}

describe("waymark run sent SIGTERM while a batch hangs", () => {
  it("gives the batch the 5 s grace, then gives it up and exits 75", async (t) => {
    const stall = sqliteStall();
    try {
      const live = startWaymark(
        ["run", FIXTURE, "hangs", "--partition", "p", "--store", stall.url],
        {},
      );
      await until("the first batch committed", async () => (await stall.committed()) === 5);
      const signalled = performance.now();
      live.child.kill("SIGTERM");
      const result = await exitWithin(live, 40_000, "the run whose batch hangs");
      const tookMs = performance.now() - signalled;
      t.diagnostic(`exited ${Math.round(tookMs)} ms after SIGTERM`);
      assert.equal(result.code, 75, result.stderr);
      assert.ok(tookMs < GRACE_MS + SLACK_MS, `exited ${Math.round(tookMs)} ms after SIGTERM`);
      assert.equal(suspendedAt(result.stdout), 5);
    } finally {
      await stall.dispose();
    }
  });
});
