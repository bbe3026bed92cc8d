/**
 * What the elastic-backfill crash tests and the torture script share: a store (a SQLite file
 * or a PostgreSQL schema) with the fixture's `counts` table, `waymark run` processes that are
 * started again until they exit 0, a look at who holds and who asks what, and the checks of
 * the guarantees once the backfill is over. Checks return violations as sentences, so that the
 * torture script can count them and a test can assert there are none.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import pg from "pg";
import { type LiveCli, startWaymark } from "../cli/cli.js";
import { PG_TEST_URL } from "../stores/postgres-factory.js";

/** The fixture module the processes run. */
export const ELASTIC_MODULE = fileURLToPath(
  new URL("../fixtures/elastic-processors.ts", import.meta.url),
);
const PROCESSOR = "elastic";

/** A store the processes share, read by the test with plain SQL. */
export interface ElasticStore {
  readonly kind: "sqlite" | "postgres";
  /** What `--store` is given. */
  readonly url: string;
  /** The fixture's `COUNTS_TABLE`. */
  readonly counts: string;
  /** A folder of the test's own (kill hooks live in `hooks/`). */
  readonly dir: string;
  /** Rows of `sql`, whose `$t.name` names the store's table `name`; none while it is missing. */
  rows<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

const COUNTS_DDL = "(partition TEXT, entity INTEGER, n INTEGER, PRIMARY KEY (partition, entity))";

/** A fresh SQLite file, or a fresh schema on the test server, with the `counts` table. */
export async function openElasticStore(kind: "sqlite" | "postgres"): Promise<ElasticStore> {
  const dir = mkdtempSync(join(tmpdir(), "waymark-elastic-"));
  mkdirSync(join(dir, "hooks"));
  if (kind === "sqlite") {
    const file = join(dir, "waymark.db");
    const db = new Database(file);
    db.pragma("journal_mode = WAL");
    db.exec(`CREATE TABLE counts ${COUNTS_DDL}`);
    return {
      kind,
      url: `sqlite:${file}`,
      counts: "counts",
      dir,
      async rows<T>(sql: string, params: readonly unknown[] = []) {
        try {
          return db.prepare(sql.replaceAll("$t.", "")).all(...params) as T[];
        } catch (error) {
          if (/no such table/.test((error as Error).message)) return [];
          throw error;
        }
      },
      async close() {
        db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const schema = `t_${Math.random().toString(16).slice(2, 14)}`;
  const pool = new pg.Pool({ connectionString: PG_TEST_URL, max: 2 });
  await pool.query(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.counts ${COUNTS_DDL}`);
  return {
    kind,
    url: `${PG_TEST_URL}${PG_TEST_URL?.includes("?") ? "&" : "?"}schema=${schema}`,
    counts: `${schema}.counts`,
    dir,
    async rows<T>(sql: string, params: readonly unknown[] = []) {
      let n = 0;
      const text = sql.replaceAll("$t.", `${schema}.`).replaceAll("?", () => `$${++n}`);
      try {
        return (await pool.query(text, [...params])).rows as T[];
      } catch (error) {
        if ((error as { code?: string }).code === "42P01") return []; // not migrated yet
        throw error;
      }
    },
    async close() {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pool.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Arms the fixture's one-shot kill `hook` (`in-split`, `after-split`, `at-N`). */
export function arm(store: ElasticStore, hook: string): void {
  writeFileSync(join(store.dir, "hooks", hook), "");
}

/** The hooks that fired, with the pid of the process each killed. */
export function fired(store: ElasticStore): Map<string, number> {
  const taken = new Map<string, number>();
  for (const name of readdirSync(join(store.dir, "hooks"))) {
    const match = /^(.+)\.(\d+)$/.exec(name);
    if (match) taken.set(match[1] as string, Number(match[2]));
  }
  return taken;
}

/** The backfill's shape: its partitions and their sizes, and the pace of its batches. */
export interface ElasticBackfill {
  readonly sizes: Readonly<Record<string, number>>;
  readonly batchSize: number;
  readonly delayMs: number;
  readonly leaseTtlMs: number;
  readonly concurrency: number;
}

/** How one process of the backfill ended, each time it was started. */
export interface SlotExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * One process of the backfill, as a Job's pod is: `waymark run` started again each time it was
 * killed or exited 75, until it exits 0 (or anything else, which the checks report).
 */
export class Slot {
  readonly name: string;
  readonly exits: SlotExit[] = [];
  #live: LiveCli | null = null;
  readonly done: Promise<void>;
  #stopped = false;

  constructor(name: string, store: ElasticStore, backfill: ElasticBackfill, maxStarts = 30) {
    this.name = name;
    const partitions = Object.keys(backfill.sizes).join(",");
    const args = ["run", ELASTIC_MODULE, "--partitions", partitions, "--store", store.url];
    args.push("--concurrency", String(backfill.concurrency));
    const env = {
      ELASTIC_SIZES: JSON.stringify(backfill.sizes),
      COUNTS_TABLE: store.counts,
      BATCH_SIZE: String(backfill.batchSize),
      BATCH_DELAY_MS: String(backfill.delayMs),
      LEASE_TTL_MS: String(backfill.leaseTtlMs),
      KILL_HOOKS: join(store.dir, "hooks"),
    };
    this.done = (async () => {
      for (let start = 0; start < maxStarts && !this.#stopped; start++) {
        this.#live = startWaymark(args, { env });
        const result = await this.#live.exited;
        const signal = this.#live.child.signalCode;
        this.#live = null;
        this.exits.push({ ...result, signal });
        if (result.code === 0 || (result.code !== 75 && signal !== "SIGKILL")) return;
      }
    })();
  }

  /** The pid of the process running now, if one is. */
  get pid(): number | null {
    return this.#live?.child.pid ?? null;
  }

  /** Its last exit code (0 once it is done). */
  get lastCode(): number | null | undefined {
    return this.exits.at(-1)?.code;
  }

  /** SIGKILLs the process running now; true when there was one. */
  kill(): boolean {
    const child = this.#live?.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return false;
    return child.kill("SIGKILL");
  }

  /** Kills it for good (a test that failed). */
  stop(): void {
    this.#stopped = true;
    this.kill();
  }
}

/** The pid a lease owner or a split requester names (`host:pid:…`). */
export function pidOf(owner: string | null): number | null {
  const pid = Number(owner?.split(":")[1]);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** One checkpoint row as the test looks at it. */
export interface UnitRow {
  readonly partition: string;
  readonly shard: string;
  readonly completed: number;
  readonly lease_owner: string | null;
  readonly split_requested_by: string | null;
}

/** The backfill's checkpoints now. */
export function units(store: ElasticStore): Promise<UnitRow[]> {
  return store.rows<UnitRow>(
    `SELECT partition, shard, completed, lease_owner, split_requested_by FROM $t.checkpoints
     WHERE processor = ?`,
    [PROCESSOR],
  );
}

/** How many splits history records. */
export async function splitCount(store: ElasticStore): Promise<number> {
  const [row] = await store.rows<{ n: number | string }>(
    "SELECT count(*) AS n FROM $t.splits WHERE processor = ?",
    [PROCESSOR],
  );
  return Number(row?.n ?? 0);
}

/**
 * The guarantees once every process exited 0: each entity's `ctx.tx` counter is exactly 1,
 * every partition completed and no checkpoint is left, each unit (a partition, a shard split
 * off it) completed in exactly one run, and history's processed counts add up to the
 * partition's size: nothing processed twice, nothing skipped.
 */
export async function checkBackfill(
  store: ElasticStore,
  backfill: ElasticBackfill,
): Promise<string[]> {
  const violations: string[] = [];
  const counts = await store.rows<{ partition: string; entity: number; n: number }>(
    `SELECT partition, entity, n FROM ${store.counts}`,
  );
  const seen = new Map(counts.map((r) => [`${r.partition} ${r.entity}`, Number(r.n)]));
  for (const [partition, size] of Object.entries(backfill.sizes)) {
    for (let entity = 1; entity <= size; entity++) {
      const n = seen.get(`${partition} ${entity}`);
      if (n !== 1) violations.push(`${partition} entity ${entity}: counted ${n ?? 0} times`);
    }
  }
  const expected = Object.values(backfill.sizes).reduce((a, b) => a + b, 0);
  if (counts.length !== expected) violations.push(`${counts.length} counters for ${expected}`);
  const left = await units(store);
  for (const row of left) violations.push(`checkpoint left: ${row.partition} ${row.shard}`);
  const completions = await store.rows<{ partition: string; shard: string }>(
    "SELECT partition, shard FROM $t.completions WHERE processor = ?",
    [PROCESSOR],
  );
  const splits = await store.rows<{ partition: string; new_shard: string }>(
    "SELECT partition, new_shard FROM $t.splits WHERE processor = ?",
    [PROCESSOR],
  );
  const runs = await store.rows<{
    partition: string;
    shard: string;
    status: string;
    processed: number;
  }>("SELECT partition, shard, status, processed FROM $t.runs WHERE processor = ?", [PROCESSOR]);
  for (const partition of Object.keys(backfill.sizes)) {
    const unitsOf = [
      "",
      ...splits.filter((s) => s.partition === partition).map((s) => s.new_shard),
    ];
    for (const shard of unitsOf) {
      const label = `${partition}${shard ? ` shard ${shard}` : ""}`;
      if (!completions.some((c) => c.partition === partition && c.shard === shard)) {
        violations.push(`${label}: no completion`);
      }
      const completedRuns = runs.filter(
        (r) => r.partition === partition && r.shard === shard && r.status === "completed",
      ).length;
      if (completedRuns !== 1) violations.push(`${label}: ${completedRuns} completed runs`);
    }
    const ofPartition = runs.filter((r) => r.partition === partition);
    const processed = ofPartition.reduce((sum, r) => sum + Number(r.processed), 0);
    const size = backfill.sizes[partition] as number;
    if (processed !== size) {
      violations.push(`${partition}: history's runs processed ${processed} of ${size} entities`);
    }
    const running = ofPartition.filter((r) => r.status === "running").length;
    if (running > 0) violations.push(`${partition}: ${running} runs left running in history`);
  }
  return violations.slice(0, 20);
}
