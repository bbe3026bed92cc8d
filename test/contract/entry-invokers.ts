/**
 * The entry points of the entry-point contract: how one scenario's processor runs once through
 * `run`, `runPartitions`, `waymark run`, the pg-boss worker in code or `waymark worker`, and
 * what each reports of it.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type PgBoss from "pg-boss";
import { WaymarkError } from "../../src/core/errors.js";
import { run } from "../../src/core/run.js";
import { runPartitions } from "../../src/core/run-partitions.js";
import type { RunResult } from "../../src/core/run-result.js";
import {
  defaultQueueName,
  enqueuePartitions,
  workPartitions,
} from "../../src/integrations/pg-boss.js";
import { type LiveCli, startWaymark, waymark } from "../cli/cli.js";
import { entryProcessors } from "../support/entry-processors.js";
import { noBackoff, until } from "../support/time.js";
import { WAYMARK_ERRORS } from "./compare.js";
import type { Env } from "./entry-envs.js";

export const MODULE = fileURLToPath(
  new URL("../fixtures/entry-point-processors.ts", import.meta.url),
);
export const PARTITION = "2024-01-15";
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
/**
 * `waymark worker` serves every scenario from one process, so its job expiry is every
 * scenario's: 4 s with the default 1 s margin leaves the quick ones 3 s, room on a loaded
 * machine, while six batches of the budget scenario (3.6 s) do not fit.
 */
const WORKER_JOB_EXPIRY_SECONDS = 4;
const WORKER_BATCH_DELAY_MS = 600;

export type Scenario = "plain" | "skipping" | "failing" | "unordered" | "budget";
export const SCENARIOS: Scenario[] = ["plain", "skipping", "failing", "unordered", "budget"];
export type Entry = "run" | "runPartitions" | "cli" | "pg-boss" | "worker";

/** What an entry point reports of one run: its own result, as the caller sees it. */
export interface Outcome {
  status: string;
  reason: string | null;
  error: string | null;
  processed: number;
  completed: number;
}

/** A fresh store of one kind and how the processors and the CLI reach it. */
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
export type Invoke = (
  scenario: Scenario,
  options: { budget: boolean; poisoned: boolean },
) => Promise<Outcome>;

export function invoker(
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

/** A `waymark worker` child working every scenario's queue, started by the first job. */
export interface WorkerChild {
  ready(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `waymark worker` on the store's pg-boss schema, the queues made beforehand without retries.
 * Its job expiry (2 s, the least) leaves the run about 1 s: slower batches than elsewhere
 * make the budget scenario suspend, as it has no margin option to shorten it.
 */
export function workerChild(env: Env): WorkerChild {
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
            `${WORKER_JOB_EXPIRY_SECONDS}s`,
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
