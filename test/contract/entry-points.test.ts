// One contract through every entry point: the same processors give the same statuses, error
// kinds, counts, failure ledger, ctx.tx effects and history rows through `run`,
// `runPartitions`, `waymark run` in a child process and the pg-boss worker, on SQLite and
// (with a server) PostgreSQL; a redrive (in code or `waymark redrive`) of the skipped entity
// after the poison is removed has the same effect everywhere.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type PgBoss from "pg-boss";
import { WaymarkError } from "../../src/core/errors.js";
import { redrive } from "../../src/core/redrive.js";
import { run } from "../../src/core/run.js";
import { runPartitions } from "../../src/core/run-partitions.js";
import type { RunResult } from "../../src/core/run-result.js";
import {
  defaultQueueName,
  enqueuePartitions,
  workPartitions,
} from "../../src/integrations/pg-boss.js";
import type { SqliteStore } from "../../src/stores/sqlite/sqlite-store.js";
import type { CheckpointStore } from "../../src/stores/store.js";
import { type LiveCli, startWaymark, waymark } from "../cli/cli.js";
import { NO_SERVER, PG_TEST_URL } from "../stores/postgres-factory.js";
import { sqlite } from "../stores/stores.js";
import { ENTITIES, entryProcessors, POISONED } from "../support/entry-processors.js";
import { BossFixture } from "../support/pg-boss-fixture.js";
import { noBackoff, until } from "../support/time.js";
import { historyOf, WAYMARK_ERRORS } from "./compare.js";

const MODULE = fileURLToPath(new URL("../fixtures/entry-point-processors.ts", import.meta.url));
const PARTITION = "2024-01-15";
/** Each batch of `budget` takes this long: six batches do not fit in the budgets below. */
const BATCH_DELAY_MS = 100;
/** `run`'s time budget; with the default 1 s margin, about three batches fit. */
const TIME_BUDGET_MS = 1300;
/**
 * The pg-boss job expiry (its least) and margin: the run gets a deadline 1.2 s after the job
 * starts with a 0.8 s margin, so about four batches fit.
 */
const JOB_EXPIRY_SECONDS = 2;
const JOB_MARGIN_MS = 1600;
/** `waymark worker` keeps the default margin (1 s of 2): six such batches do not fit. */
const WORKER_BATCH_DELAY_MS = 250;

type Scenario = "plain" | "skipping" | "failing" | "unordered" | "budget";
const SCENARIOS: Scenario[] = ["plain", "skipping", "failing", "unordered", "budget"];
type Entry = "run" | "runPartitions" | "cli" | "pg-boss" | "worker";

/** What an entry point reports of one run: its own result, as the caller sees it. */
interface Outcome {
  status: string;
  reason: string | null;
  error: string | null;
  processed: number;
  completed: number;
}

/** A fresh store of one kind and how the processors and the CLI reach it. */
interface Env {
  readonly store: CheckpointStore;
  readonly url: string;
  readonly table: string;
  effects(): Promise<Map<string, number>>;
  boss?(): Promise<PgBoss>;
  /** PostgreSQL: the schema pg-boss keeps its jobs in. */
  readonly bossSchema?: string;
  sql?<R>(text: string, params: unknown[]): Promise<{ rows: R[] }>;
  cleanup(): Promise<void>;
}

const EFFECTS_DDL = "(key TEXT PRIMARY KEY CHECK (key NOT LIKE 'poison%'), writes INT NOT NULL)";

async function sqliteEnv(): Promise<Env> {
  const opened = await sqlite.open();
  return {
    store: opened.store,
    url: `sqlite:${(opened.store as SqliteStore).path}`,
    table: "effects",
    effects: () => opened.effects(),
    cleanup: () => opened.cleanup(),
  };
}

async function postgresEnv(): Promise<Env> {
  const fixture = await BossFixture.open();
  const { schema, pool } = fixture.test;
  const table = `${schema}.entry_effects`;
  await pool.query(`CREATE TABLE ${table} ${EFFECTS_DDL}`);
  const url = new URL(PG_TEST_URL as string);
  url.searchParams.set("schema", schema);
  return {
    store: fixture.store,
    url: url.toString(),
    table,
    async effects() {
      const rows = await pool.query<{ key: string; writes: number }>(
        `SELECT key, writes FROM ${table}`,
      );
      return new Map(rows.rows.map((r) => [r.key, r.writes]));
    },
    boss: () => fixture.boss(),
    bossSchema: `${schema}_boss`,
    sql: async <R>(text: string, params: unknown[]) => {
      const result = await pool.query(text, params);
      return { rows: result.rows as R[] };
    },
    cleanup: () => fixture.close(),
  };
}

function errorKind(error: unknown): string | null {
  if (error === undefined || error === null) return null;
  return error instanceof WaymarkError ? error.code : "batch";
}

function outcomeOf(result: RunResult | null): Outcome {
  if (!result) throw new Error("the partition did not run");
  return {
    status: result.status,
    reason: result.reason ?? null,
    error: errorKind(result.error),
    processed: result.processed,
    completed: result.completed,
  };
}

/** The kind of an error given as `Name: message` (CLI JSON, history) or a serialised one. */
function kindOfText(text: string | null | undefined, code?: string): string | null {
  if (text === null || text === undefined) return null;
  const name = text.slice(0, text.indexOf(":"));
  if (!WAYMARK_ERRORS.has(name)) return "batch";
  return code ?? name;
}

/** Runs one scenario's processor once through one entry point. */
type Invoke = (
  scenario: Scenario,
  options: { budget: boolean; poisoned: boolean },
) => Promise<Outcome>;

function invoker(
  entry: Entry,
  env: Env,
  poison: { on: boolean },
  child: WorkerChild | null,
): Invoke {
  const processors = entryProcessors({
    table: env.table,
    poisoned: () => poison.on,
    batchDelayMs: BATCH_DELAY_MS,
  });
  const budget = (on: boolean) => (on ? { timeBudgetMs: TIME_BUDGET_MS } : {});
  switch (entry) {
    case "run":
      return async (scenario, options) =>
        outcomeOf(
          await run(processors[scenario], {
            store: env.store,
            partition: PARTITION,
            logger: false,
            sleep: noBackoff,
            ...budget(options.budget),
          }),
        );
    case "runPartitions":
      return async (scenario, options) => {
        const result = await runPartitions(processors[scenario], {
          store: env.store,
          partitions: [PARTITION],
          logger: false,
          sleep: noBackoff,
          ...budget(options.budget),
        });
        return outcomeOf(result.partitions[0]?.result ?? null);
      };
    case "cli":
      return async (scenario, options) => {
        const cli = await waymark(
          [
            "run",
            MODULE,
            scenario,
            "--partition",
            PARTITION,
            "--store",
            env.url,
            "--json",
            ...(options.budget ? ["--time-budget", `${TIME_BUDGET_MS}ms`] : []),
          ],
          {
            env: {
              EFFECTS_TABLE: env.table,
              POISON: poison.on ? "1" : "0",
              BATCH_DELAY_MS: String(BATCH_DELAY_MS),
            },
          },
        );
        const finished = cli.stdout
          .split("\n")
          .filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((e) => e.event === "run-finished");
        if (!finished) assert.fail(`no run-finished line (exit ${cli.code}):\n${cli.stderr}`);
        const status = finished.status as string;
        const exit = { completed: 0, failed: 1, suspended: 75 }[status];
        assert.equal(cli.code, exit, `exit code of a ${status} run:\n${cli.stderr}`);
        return {
          status,
          reason: (finished.reason as string | null) ?? null,
          error: kindOfText(
            finished.error as string | null,
            (finished.errorCode as string | null) ?? undefined,
          ),
          processed: finished.processed as number,
          completed: finished.completed as number,
        };
      };
    case "pg-boss":
      return pgBossInvoker(env, processors, null);
    case "worker":
      if (!child) throw new Error("the worker leg needs its child");
      return pgBossInvoker(env, processors, child);
  }
}

/**
 * A pg-boss worker in this process per processor: the job's outcome is the worker's report
 * (the job's output, or the error it failed with). The queue is made without retries, so
 * that a failed run is reported once, as `run` reports it; pg-boss's own retries are a
 * policy on top.
 */
function pgBossInvoker(
  env: Env,
  processors: ReturnType<typeof entryProcessors>,
  child: WorkerChild | null,
): Invoke {
  const queueOf = (scenario: Scenario) =>
    child ? defaultQueueName(processors[scenario]) : `entry-${scenario}`;
  let boss: Promise<PgBoss> | undefined;
  return async (scenario, options) => {
    const sql = env.sql;
    if (!env.boss || !sql) throw new Error("pg-boss needs PostgreSQL");
    // Every queue before any scenario: pg-boss deadlocks creating queues at once.
    boss ??= env.boss().then(async (started) => {
      for (const name of SCENARIOS.map(queueOf)) {
        await started.createQueue(name, { name, retryLimit: 0 });
      }
      return started;
    });
    const started = await boss;
    const queue = queueOf(scenario);
    if (child) {
      await child.ready();
    } else {
      await workPartitions(started, processors[scenario], {
        store: env.store,
        queue,
        pollingIntervalSeconds: 0.5,
        logger: false,
        ...(options.budget
          ? { jobExpirySeconds: JOB_EXPIRY_SECONDS, deadlineMarginMs: JOB_MARGIN_MS }
          : {}),
      });
    }
    await enqueuePartitions(started, processors[scenario], [PARTITION], { queue });
    const ended = async () => {
      const runs = await env.store.listRuns({ processor: scenario });
      return runs.some((r) => r.status === "completed" || r.status === "failed");
    };
    await until(`${scenario} to end through pg-boss`, ended, { timeoutMs: 30_000 });
    let job: { state: string; output: Record<string, unknown> } | undefined;
    await until(`the job of ${scenario} to end`, async () => {
      const { rows } = await sql<{ state: string; output: Record<string, unknown> }>(
        `SELECT state, output FROM ${env.bossSchema}.job WHERE name = $1
         AND data->>'watch' IS NULL ORDER BY created_on DESC LIMIT 1`,
        [queue],
      );
      job = rows[0];
      return job?.state === "completed" || job?.state === "failed";
    });
    // The job's output is its run's result, as pg-boss's getJobById shows it.
    const output = job?.output ?? {};
    if (job?.state === "failed") {
      const [last] = await env.store.listRuns({ processor: scenario });
      const [checkpoint] = await env.store.listCheckpoints({ processor: scenario });
      return {
        status: "failed",
        reason: null,
        error: kindOfText(`${output.name}: ${output.message}`, output.code as string | undefined),
        processed: last?.processed ?? -1,
        completed: checkpoint?.completed ?? 0,
      };
    }
    return {
      status: output.status as string,
      reason: (output.reason as string | null) ?? null,
      error: null,
      processed: output.processed as number,
      completed: output.completed as number,
    };
  };
}

type HistoryRow = Awaited<ReturnType<typeof historyOf>>[number];

/**
 * A suspended-then-continued history, without how many times it suspended (that depends on
 * how fast the machine is): the statuses in order, repeats collapsed; every row resuming
 * where the rows before it left off; the entities processed by all of them.
 */
function continuedShape(rows: HistoryRow[]) {
  let done = 0;
  let chained = true;
  for (const row of rows) {
    if (row.resumedFrom !== (done === 0 ? null : done)) chained = false;
    done += row.processed;
  }
  return {
    statuses: rows.map((r) => r.status).filter((s, i, all) => s !== all[i - 1]),
    reasons: [...new Set(rows.map((r) => r.reason))],
    errors: [...new Set(rows.map((r) => r.error))],
    chained,
    processed: done,
  };
}

/** A `waymark worker` child working every scenario's queue, started by the first job. */
interface WorkerChild {
  ready(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `waymark worker` on the store's pg-boss schema, the queues made beforehand without retries.
 * Its job expiry (2 s, the least) leaves the run about 1 s: slower batches than elsewhere
 * make the budget scenario suspend, as it has no margin option to shorten it.
 */
function workerChild(env: Env): WorkerChild {
  let cli: LiveCli | undefined;
  let ready: Promise<void> | undefined;
  return {
    ready() {
      ready ??= (async () => {
        cli = startWaymark(
          [
            "worker",
            "--store",
            env.url,
            "--processors",
            MODULE,
            "--boss-schema",
            env.bossSchema as string,
            "--job-expiry",
            `${JOB_EXPIRY_SECONDS}s`,
          ],
          {
            env: {
              EFFECTS_TABLE: env.table,
              POISON: "1",
              BATCH_DELAY_MS: String(WORKER_BATCH_DELAY_MS),
            },
          },
        );
        await cli.waitFor(/worker ready/, 20_000);
      })();
      return ready;
    },
    async stop() {
      if (!cli) return;
      cli.child.kill("SIGTERM");
      const exited = await cli.exited;
      assert.equal(exited.code, 0, `waymark worker stopped:\n${exited.stderr}`);
    },
  };
}

async function ledgerOf(store: CheckpointStore, processor: string) {
  return (await store.listFailures({ processor })).map((f) => ({
    partition: f.partition,
    cursor: f.cursor,
    attempts: f.attempts,
  }));
}

async function effectsOf(env: Env, processor: string): Promise<Array<[string, number]>> {
  return [...(await env.effects())]
    .filter(([key]) => key.startsWith(`${processor}-`))
    .sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }));
}

/** Redrives the skipping processor's ledger in code or through `waymark redrive`. */
async function redriveThrough(entry: Entry, env: Env, poison: { on: boolean }) {
  poison.on = false;
  if (entry === "run" || entry === "runPartitions") {
    const { skipping } = entryProcessors({
      table: env.table,
      poisoned: () => poison.on,
      batchDelayMs: 0,
    });
    return redrive(skipping, {
      store: env.store,
      partition: PARTITION,
      logger: false,
      sleep: noBackoff,
    });
  }
  const cli = await waymark(
    ["redrive", "skipping", PARTITION, "--processors", MODULE, "--store", env.url, "--json"],
    { env: { EFFECTS_TABLE: env.table, POISON: "0" } },
  );
  assert.equal(cli.code, 0, `waymark redrive:\n${cli.stderr}`);
  return JSON.parse(cli.stdout) as unknown;
}

/** What one entry point did with every scenario on a fresh store. */
async function observe(entry: Entry, open: () => Promise<Env>) {
  const env = await open();
  const poison = { on: true };
  const child = entry === "worker" ? workerChild(env) : null;
  try {
    const invoke = invoker(entry, env, poison, child);
    const once = async (scenario: Scenario) => {
      if (scenario !== "budget") {
        return { outcome: await invoke(scenario, { budget: false, poisoned: true }), first: null };
      }
      const first = await invoke(scenario, { budget: true, poisoned: true });
      // pg-boss sends the continuation job itself; elsewhere the caller runs again.
      if (entry === "pg-boss" || entry === "worker") return { outcome: first, first: null };
      const last = await invoke(scenario, { budget: false, poisoned: true });
      return { outcome: last, first };
    };
    // Child processes start slowly and queues poll: there the scenarios run side by side,
    // each with its own processor (checkpoint, history, effects); in code one after another.
    const results =
      entry !== "run" && entry !== "runPartitions"
        ? await Promise.all(SCENARIOS.map(once))
        : await SCENARIOS.reduce<Promise<Array<Awaited<ReturnType<typeof once>>>>>(
            async (done, s) => [...(await done), await once(s)],
            Promise.resolve([]),
          );
    const seen: Record<string, unknown> = {};
    for (const [i, scenario] of SCENARIOS.entries()) {
      const { outcome, first } = results[i] as Awaited<ReturnType<typeof once>>;
      const history = await historyOf(env.store, scenario);
      if (first) {
        assert.equal(first.status, "suspended", `${entry}: the time budget suspends the run`);
        assert.equal(first.reason, "deadline", `${entry}: suspended for its deadline`);
      }
      seen[scenario] = {
        // How many entities the last run processed depends on where the budget cut.
        outcome:
          scenario === "budget"
            ? { status: outcome.status, error: outcome.error, completed: outcome.completed }
            : outcome,
        history: scenario === "budget" ? continuedShape(history) : history,
        ledger: await ledgerOf(env.store, scenario),
        effects: await effectsOf(env, scenario),
      };
    }
    const redriven = await redriveThrough(entry, env, poison);
    seen.redrive = {
      result: redriven,
      ledger: await ledgerOf(env.store, "skipping"),
      effects: await effectsOf(env, "skipping"),
      history: await historyOf(env.store, "skipping"),
    };
    return seen;
  } finally {
    await child?.stop();
    await env.cleanup();
  }
}

/** The legs; those of one `chain` run one after another, the chains side by side. */
const LEGS: Array<{ name: string; entry: Entry; chain: string; open: () => Promise<Env> }> = [
  ...(["run", "runPartitions", "cli"] as const).map((entry) => ({
    name: `${entry} on sqlite`,
    entry,
    chain: "sqlite",
    open: sqliteEnv,
  })),
  ...(NO_SERVER
    ? []
    : (["run", "runPartitions", "cli", "pg-boss", "worker"] as const).map((entry) => ({
        name: `${entry} on postgres`,
        entry,
        chain: entry === "pg-boss" || entry === "worker" ? "queue" : "postgres",
        open: postgresEnv,
      }))),
];

if (NO_SERVER) {
  describe("every entry point: the PostgreSQL, pg-boss and waymark worker legs", {
    skip: NO_SERVER,
  }, () => {});
}

const ALL_ONCE = Array.from({ length: ENTITIES }, (_, i) => i + 1);

describe("one contract through every entry point", { timeout: 120_000 }, () => {
  const seen = new Map<string, Record<string, unknown>>();
  let firstLeg = "";
  before(async () => {
    const chains = [...new Set(LEGS.map((leg) => leg.chain))];
    await Promise.all(
      chains.map(async (chain) => {
        const legs = LEGS.filter((leg) => leg.chain === chain);
        for (const leg of legs) seen.set(leg.name, await observe(leg.entry, leg.open));
      }),
    );
    firstLeg = LEGS[0]?.name ?? "";
  });
  after(() => seen.clear());

  /** Asserts every leg saw the same for `key`, and returns what they saw. */
  function same<T>(key: string): T {
    const expected = seen.get(firstLeg)?.[key];
    for (const [leg, observed] of seen) {
      assert.deepEqual(observed[key], expected, `${key}: ${leg} differs from ${firstLeg}`);
    }
    return expected as T;
  }

  it("a plain partition: completed, every entity written once, one history row", () => {
    const plain = same<{ outcome: Outcome; effects: Array<[string, number]>; history: unknown }>(
      "plain",
    );
    assert.deepEqual(plain.outcome, {
      status: "completed",
      reason: null,
      error: null,
      processed: ENTITIES,
      completed: ENTITIES,
    });
    assert.deepEqual(
      plain.effects,
      ALL_ONCE.map((n) => [`plain-${n}`, 1]),
    );
  });

  it("a poisoned ctx.tx row with skip: the one bad entity is skipped, the run completes", () => {
    const skipping = same<{ outcome: Outcome; ledger: unknown; effects: unknown }>("skipping");
    assert.equal(skipping.outcome.status, "completed");
    assert.equal(skipping.outcome.processed, ENTITIES - 1);
    assert.deepEqual(
      (skipping.ledger as Array<{ cursor: number }>).map((f) => f.cursor),
      [POISONED],
    );
    assert.deepEqual(
      skipping.effects,
      ALL_ONCE.filter((n) => n !== POISONED).map((n) => [`skipping-${n}`, 1]),
    );
  });

  it("a poisoned ctx.tx row without skip, retried twice: failed, the same error kind", () => {
    const failing = same<{ outcome: Outcome; history: HistoryRow[]; effects: unknown }>("failing");
    assert.deepEqual(failing.outcome, {
      status: "failed",
      reason: null,
      error: "batch",
      processed: 15,
      completed: 15,
    });
    assert.deepEqual(
      failing.history.map((h) => [h.status, h.processed, h.error]),
      [["failed", 15, "batch"]],
    );
  });

  it("entities out of order: failed with ORDER_VIOLATION, nothing committed past them", () => {
    const unordered = same<{ outcome: Outcome; history: HistoryRow[]; effects: unknown }>(
      "unordered",
    );
    assert.deepEqual(unordered.outcome, {
      status: "failed",
      reason: null,
      error: "ORDER_VIOLATION",
      processed: 10,
      completed: 10,
    });
    assert.deepEqual(
      unordered.history.map((h) => [h.status, h.processed, h.error]),
      [["failed", 10, "OrderViolationError"]],
    );
    assert.deepEqual(
      unordered.effects,
      ALL_ONCE.slice(0, 10).map((n) => [`unordered-${n}`, 1]),
    );
  });

  it("a time budget suspends the run; a continuation completes it", () => {
    const budget = same<{ outcome: unknown; history: unknown; effects: unknown }>("budget");
    assert.deepEqual(budget.outcome, { status: "completed", error: null, completed: ENTITIES });
    assert.deepEqual(budget.history, {
      statuses: ["suspended", "completed"],
      reasons: ["deadline", null],
      errors: [null],
      chained: true,
      processed: ENTITIES,
    });
    assert.deepEqual(
      budget.effects,
      ALL_ONCE.map((n) => [`budget-${n}`, 1]),
    );
  });

  it("a redrive of the skipped entity after the poison is removed: the same everywhere", () => {
    const redriven = same<{ result: unknown; ledger: unknown; effects: unknown }>("redrive");
    assert.deepEqual(redriven.result, {
      status: "completed",
      fixed: [POISONED],
      stillFailing: [],
      notFound: [],
    });
    assert.deepEqual(redriven.ledger, []);
    assert.deepEqual(
      redriven.effects,
      ALL_ONCE.map((n) => [`skipping-${n}`, 1]),
    );
  });
});
