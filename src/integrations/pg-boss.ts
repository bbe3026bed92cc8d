/**
 * Fan-out through pg-boss (10.x): a job per partition hands the partition to whichever
 * worker fetches it; waymark builds no queue of its own. `pg-boss` is an optional peer and is
 * typed structurally here, so importing this module never loads it.
 *
 * - A job's run has a deadline from the job's expiry: it suspends at a batch boundary before
 *   pg-boss would expire the job, and a continuation job resumes it from its checkpoint
 *   wherever that job lands.
 * - `busy` (another runner holds the lease): the job is sent again, to start later.
 * - `failed`: the error is thrown to pg-boss, so its retry and backoff policy applies.
 * - `completed`: the job completes with the run's result as its output.
 * - A worker that dies (SIGKILL, OOM, a lost machine) leaves its job active until pg-boss's
 *   expiry; a watch job sent beside every running job notices the lease expire and takes the
 *   partition over within the processor's `leaseTtlMs` and a second or two.
 */

import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { splitCandidate, viewOf } from "../core/backfill-view.js";
import { checkpointKey, describeKey } from "../core/checkpoint-key.js";
import { InvalidOptionError } from "../core/errors.js";
import { consoleLogger, silentLogger } from "../core/logger.js";
import { defineProcessor, type Processor } from "../core/processor.js";
import { runUnit } from "../core/run.js";
import { resolveRunOptions } from "../core/run-options.js";
import type { RunResult } from "../core/run-result.js";
import { listShards, type Shard, type ShardsArgs } from "../core/shards.js";
import type { SplitMade } from "../core/split-holder.js";
import { GuardedStore } from "../core/store/guarded-store.js";
import type { RunStore } from "../core/store/run-store.js";
import type { Logger } from "../core/types.js";
import { unitOfRun } from "../core/unit.js";
import {
  jobError,
  jobOutput,
  type PartitionJobData,
  parseJobData,
  runData,
} from "./pg-boss-jobs.js";

export type { PartitionJobData } from "./pg-boss-jobs.js";

/** Options of `send` that waymark uses. */
export interface PgBossSendOptions {
  startAfter?: number;
  singletonKey?: string;
  /** With `singletonKey`: at most one job of the key is sent per this many seconds. */
  singletonSeconds?: number;
  expireInSeconds?: number;
}

/** The slice of a pg-boss 10 instance this module calls. */
export interface PgBossLike {
  createQueue(name: string, options?: { expireInSeconds?: number }): Promise<void>;
  /** Called only when an expiry is asked for, to set it on a queue that exists. */
  updateQueue?(
    name: string,
    options?: { name: string; expireInSeconds?: number; policy?: string },
  ): Promise<void>;
  /** Read before `updateQueue`, whose pg-boss 10 default would reset the queue's policy. */
  getQueue?(name: string): Promise<{ readonly policy?: string } | null>;
  send(name: string, data: object, options?: PgBossSendOptions): Promise<string | null>;
  work(
    name: string,
    options: { batchSize?: number; pollingIntervalSeconds?: number },
    handler: (
      jobs: Array<{ id: string; data: unknown; expireInSeconds: number }>,
    ) => Promise<unknown>,
  ): Promise<string>;
  getJobById(name: string, id: string): Promise<{ readonly state: string } | null>;
  cancel(name: string, id: string): Promise<unknown>;
}

/** Options of {@link workPartitions}. */
export interface PgBossWorkerOptions<Tx = unknown> {
  /**
   * Where checkpoints live; usually a `PostgresStore` on the same database as pg-boss. It
   * must provide the processor's `ctx.tx` handle.
   */
  store: RunStore<Tx>;
  /** The queue. @default "waymark-" + the processor's name, other characters as "_" */
  queue?: string;
  /**
   * How long one job may run its partition before it suspends and hands the rest to a
   * continuation job. Sets the job expiry (this plus the margin) when `jobExpirySeconds` is
   * not given. @default none: the job expiry alone decides
   */
  timeBudgetMs?: number;
  /**
   * The expiry of the jobs this worker sends and of the queue's jobs from now on (pg-boss's
   * `expireInSeconds`); a run suspends `deadlineMarginMs` before it. A job sent elsewhere
   * keeps its own expiry, which its run follows. @default from `timeBudgetMs`, else the
   * queue's (pg-boss: 15 minutes)
   * @example jobExpirySeconds: 600
   */
  jobExpirySeconds?: number;
  /**
   * Time kept free before the job's expiry: no batch starts that would likely end later
   * than the expiry minus this, and a batch still running at the expiry minus half of it is
   * aborted and not committed, so pg-boss never expires a job whose run is still going.
   * @default 10% of the job's expiry, at least 1000 (at most 90% of the expiry)
   */
  deadlineMarginMs?: number;
  /** When a partition is busy, how long before its job is tried again. @default 5 */
  busyRetrySeconds?: number;
  /** How often an idle worker polls for jobs. @default 2 (pg-boss's default) */
  pollingIntervalSeconds?: number;
  /** Where log lines go; `false` for none. @default the console */
  logger?: Logger | false;
  /**
   * Aborted to shut the worker down: the run in progress stops at its next batch boundary,
   * suspends (releasing its lease) and its continuation job is sent. @default none
   */
  signal?: AbortSignal;
}

/** The queue a processor's jobs go to unless told otherwise. */
export function defaultQueueName(processor: { readonly name: string }): string {
  return `waymark-${processor.name.replace(/[^\w-]/g, "_")}`;
}

/**
 * Registers a pg-boss worker that runs `processor` for each job's partition. Resolves to
 * pg-boss's worker id (for `boss.offWork`).
 *
 * @example
 * const boss = new PgBoss(process.env.DATABASE_URL!);
 * await boss.start();
 * await workPartitions(boss, summaries, { store, jobExpirySeconds: 600 });
 * await enqueuePartitions(boss, summaries, ["2024-01-15", "2024-01-16"]);
 */
export async function workPartitions<E, S, Tx>(
  boss: PgBossLike,
  processor: Processor<E, S, Tx>,
  options: PgBossWorkerOptions<NoInfer<Tx>>,
): Promise<string> {
  const queue = options.queue ?? defaultQueueName(processor);
  const expireInSeconds = jobExpiry(options);
  await boss.createQueue(queue, expireInSeconds === undefined ? undefined : { expireInSeconds });
  if (expireInSeconds !== undefined && boss.updateQueue) {
    const policy = (await boss.getQueue?.(queue))?.policy;
    await boss.updateQueue(queue, {
      name: queue,
      expireInSeconds,
      ...(policy === undefined ? {} : { policy }),
    });
  }
  const worker = new PartitionWorker(boss, processor, options as PgBossWorkerOptions, queue, {
    ...(expireInSeconds === undefined ? {} : { expireInSeconds }),
  });
  // An idle worker helps: it asks the running unit with the most work left to split.
  const helper = setInterval(() => void worker.help(), worker.pollMs);
  helper.unref();
  options.signal?.addEventListener("abort", () => clearInterval(helper), { once: true });
  return boss.work(
    queue,
    { batchSize: 1, pollingIntervalSeconds: options.pollingIntervalSeconds ?? 2 },
    async (jobs) => {
      const outputs: unknown[] = [];
      for (const job of jobs) outputs.push(await worker.handle(job));
      // One job at a time (batchSize 1): its output is its run's result, not an array that
      // pg-boss would store as { value: [result] }.
      return outputs.length === 1 ? outputs[0] : outputs;
    },
  );
}

/** The job expiry the options ask for, in whole seconds, or undefined for the queue's. */
function jobExpiry(options: PgBossWorkerOptions): number | undefined {
  const { jobExpirySeconds, timeBudgetMs, deadlineMarginMs } = options;
  if (jobExpirySeconds !== undefined) {
    if (!Number.isInteger(jobExpirySeconds) || jobExpirySeconds < 2) {
      throw new InvalidOptionError(
        "jobExpirySeconds",
        `Expected \`jobExpirySeconds\` to be a whole number of seconds from 2 up, got ` +
          `${String(jobExpirySeconds)}, e.g. 600 for 10 minutes.`,
      );
    }
    return jobExpirySeconds;
  }
  if (timeBudgetMs === undefined) return undefined;
  if (!Number.isFinite(timeBudgetMs) || timeBudgetMs < 1000) {
    throw new InvalidOptionError(
      "timeBudgetMs",
      `Expected \`timeBudgetMs\` to be milliseconds from 1000 up, got ${String(timeBudgetMs)}, ` +
        "e.g. 540_000 for 9 minutes.",
    );
  }
  // The budget is what the run gets: the margin comes on top of it.
  const expiryMs =
    deadlineMarginMs === undefined ? timeBudgetMs / 0.9 : timeBudgetMs + deadlineMarginMs;
  return Math.max(2, Math.ceil(expiryMs / 1000));
}

type Job = { id: string; data: unknown; expireInSeconds: number };

/**
 * A unit's singleton key for pg-boss: its partition and shard as JSON. Not the backfill's
 * unit key, whose NUL separator PostgreSQL's text refuses: the send would fail, and no job
 * would ever run a shard split off.
 */
function jobKey(unit: { readonly partition: string; readonly shard: string }): string {
  return JSON.stringify([unit.partition, unit.shard]);
}

/**
 * What a job completes with in pg-boss: its run's result; or, when nothing ran, why (the unit
 * completed since the job was asked for, a split-off shard that is gone, or a busy unit whose
 * job was sent again for later).
 */
type JobOutput =
  | Omit<RunResult, "error">
  | { status: "already-completed"; completedAt: number; completedBy: string | null }
  | { status: "absent" }
  | { status: "busy" };

/** What a watch job did, as its output in pg-boss. */
interface WatchOutput {
  readonly watched: string;
  readonly state: string;
}

/** Runs one queue's jobs for one processor. */
class PartitionWorker<E, S> {
  readonly #boss: PgBossLike;
  readonly #processor: Processor<E, S, unknown>;
  readonly #options: PgBossWorkerOptions;
  readonly #queue: string;
  readonly #send: PgBossSendOptions;
  readonly #log: Logger;
  readonly #store: GuardedStore;
  /** Who asks for splits: this worker. */
  readonly #owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}:worker`;
  /** Jobs this worker is running now; an idle worker helps by asking for splits. */
  #active = 0;
  #helping = false;

  constructor(
    boss: PgBossLike,
    processor: Processor<E, S, unknown>,
    options: PgBossWorkerOptions,
    queue: string,
    send: PgBossSendOptions,
  ) {
    this.#boss = boss;
    this.#processor = defineProcessor(processor);
    this.#options = options;
    this.#queue = queue;
    this.#send = send;
    this.#log = options.logger === false ? silentLogger : (options.logger ?? consoleLogger);
    this.#store = new GuardedStore(options.store, {
      logger: this.#log,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    });
  }

  /** How often a running partition looks for split requests, and an idle worker for work. */
  get pollMs(): number {
    return Math.max(250, ((this.#options.pollingIntervalSeconds ?? 2) * 1000) / 2);
  }

  /**
   * An idle worker (no job of its own) asks the running partition or shard of this processor
   * with the most work left to split; the holder sends a job for the new shard, which an idle
   * worker fetches. Split-off shards that no job covers (their holder died between the split
   * and the send) get one too: the singleton key keeps it to one job.
   */
  async help(): Promise<void> {
    if (this.#active > 0 || this.#helping) return;
    this.#helping = true;
    try {
      const listing = await this.#store.listUnits(this.#processor.name, null, Date.now());
      if (!listing) return;
      // Every running partition and shard of the processor is a candidate, not only shards.
      const now = Date.now();
      const view = viewOf(listing, null, now);
      // The holder sent the new shard's job when it split; one nobody claimed for a while is
      // an orphan (its holder died before the send): it gets one job a minute at most.
      const orphans = new Set(
        listing.checkpoints
          .filter((c) => c.leaseOwner === null && now - c.createdAt > 10 * this.pollMs)
          .map((c) => jobKey(c)),
      );
      for (const unit of view.splitOffs) {
        if (!orphans.has(jobKey(unit))) continue;
        await this.#boss.send(
          this.#queue,
          { partition: unit.partition, shard: unit.shard, requestedAt: now },
          { ...this.#send, singletonKey: jobKey(unit), singletonSeconds: 60 },
        );
      }
      const minimum =
        6 * (typeof this.#processor.batchSize === "number" ? this.#processor.batchSize : 1);
      const target = splitCandidate(view, minimum, new Set());
      if (target) await this.#store.requestSplit(target, this.#owner, Date.now());
    } catch (error) {
      this.#log.warn(
        `An idle worker could not look for work to split: ${(error as Error).message}`,
      );
    } finally {
      this.#helping = false;
    }
  }

  async handle(job: Job): Promise<unknown> {
    const data = parseJobData(job.data, this.#queue);
    this.#active++;
    try {
      return data.watch === undefined
        ? await this.#runJob(job, data)
        : await this.#watch(job, data.watch, runData(data));
    } finally {
      this.#active--;
    }
  }

  /** Runs the job's partition until the job's deadline, and sends what comes next. */
  async #runJob(job: Job, data: PartitionJobData): Promise<JobOutput> {
    const startedAt = Date.now();
    const expiryMs = job.expireInSeconds * 1000;
    const margin = Math.min(
      this.#options.deadlineMarginMs ?? Math.max(1000, expiryMs / 10),
      expiryMs * 0.9,
    );
    // If this process dies, the watch job finds the lease expired and takes over.
    const watcher = await this.#boss.send(
      this.#queue,
      { ...data, watch: job.id },
      { ...this.#send, startAfter: this.#leaseSeconds() },
    );
    let outcome: Awaited<ReturnType<typeof runUnit<E, S, unknown>>>;
    try {
      const options = resolveRunOptions({
        store: this.#options.store,
        partition: data.partition,
        ...(data.shard === undefined ? {} : { shard: data.shard }),
        // No batch starts that would likely end past expiry - margin; one still running at
        // expiry - margin/2 is aborted uncommitted: the rest of the margin is for the commit,
        // the release and the continuation job.
        deadline: startedAt + expiryMs - margin / 2,
        deadlineMarginMs: margin / 2,
        ...(this.#options.signal === undefined ? {} : { signal: this.#options.signal }),
        ...(this.#options.logger === undefined ? {} : { logger: this.#options.logger }),
      });
      const unit = await unitOfRun(this.#processor, data.partition, data.shard);
      // Whether the partition still needs running is decided under its lease: one completed
      // since the job was asked for is done, whoever completed it.
      outcome = await runUnit(this.#processor, options, unit, {
        completedSince: data.requestedAt,
        splitPollMs: this.pollMs,
        onSplit: (made) => this.#sendSplit(made, data),
      });
    } finally {
      if (watcher !== null) await this.#cancel(watcher);
    }
    if (outcome.kind === "completed") {
      return { status: "already-completed", completedAt: outcome.at, completedBy: outcome.runId };
    }
    if (outcome.kind === "absent") return { status: "absent" };
    if (outcome.kind === "held") {
      await this.#boss.send(this.#queue, data, {
        ...this.#send,
        startAfter: this.#options.busyRetrySeconds ?? 5,
      });
      return { status: "busy" };
    }
    const result = outcome.result;
    if (result.status === "failed") throw jobError(result.error ?? new Error("the run failed"));
    if (result.status === "suspended") await this.#boss.send(this.#queue, data, this.#send);
    if (result.status === "busy") {
      await this.#boss.send(this.#queue, data, {
        ...this.#send,
        startAfter: this.#options.busyRetrySeconds ?? 5,
      });
    }
    const { error: _error, ...output } = result;
    return jobOutput(output) as JobOutput;
  }

  /** A job for a shard this worker's run split off: an idle worker fetches it. */
  async #sendSplit(made: SplitMade, data: PartitionJobData): Promise<void> {
    await this.#boss.send(
      this.#queue,
      { partition: made.partition, shard: made.shard, requestedAt: data.requestedAt },
      { ...this.#send, singletonKey: jobKey(made) },
    );
  }

  /**
   * A watch job: while the watched job is active and its lease live, looks again when the
   * lease would expire; when the lease expired under an active job, its worker is gone and
   * this job runs the partition, then cancels the dead job so that pg-boss never retries it.
   */
  async #watch(job: Job, watched: string, data: PartitionJobData): Promise<unknown> {
    const state = (await this.#boss.getJobById(this.#queue, watched))?.state ?? "gone";
    if (state !== "active") return { watched, state } satisfies WatchOutput;
    const key = checkpointKey(this.#processor.name, data.partition, data.shard);
    const { checkpoint } = await this.#options.store.readBack(key);
    const expiresAt = checkpoint?.leaseOwner ? checkpoint.leaseExpiresAt : null;
    const now = Date.now();
    if (expiresAt !== null && expiresAt > now) {
      await this.#boss.send(
        this.#queue,
        { ...data, watch: watched },
        { ...this.#send, startAfter: Math.max(1, Math.ceil((expiresAt - now) / 1000)) },
      );
      return { watched, state: "active" } satisfies WatchOutput;
    }
    this.#log.warn(
      `Job ${watched} (${describeKey(key)}) is active but its lease has expired: its worker ` +
        "is gone. Taking the partition over.",
    );
    let busy = false;
    try {
      const output = await this.#runJob(job, data);
      busy = output.status === "busy";
      return output;
    } finally {
      if (!busy) await this.#cancel(watched);
    }
  }

  #leaseSeconds(): number {
    return Math.max(1, Math.ceil(this.#processor.leaseTtlMs / 1000));
  }

  /** Cancels a job; one that already ended or is gone is no error. */
  async #cancel(id: string): Promise<void> {
    try {
      await this.#boss.cancel(this.#queue, id);
    } catch (error) {
      this.#log.warn(
        `Could not cancel job ${id} on ${this.#queue}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}

/**
 * Sends one job per partition, e.g. every game date of a backfill; for a processor with
 * `shards`, one job per shard of each partition. Resolves to the number of jobs sent.
 *
 * @example
 * await enqueuePartitions(boss, summaries, dates("2024-01-01", "2024-01-31"));
 */
export async function enqueuePartitions(
  boss: PgBossLike,
  processor: {
    readonly name: string;
    shards?(args: ShardsArgs): Shard[] | Promise<Shard[]>;
  },
  partitions: Iterable<string>,
  options: { queue?: string; now?: () => number; jobExpirySeconds?: number } = {},
): Promise<number> {
  const queue = options.queue ?? defaultQueueName(processor);
  await boss.createQueue(queue);
  const requestedAt = (options.now ?? Date.now)();
  const send =
    options.jobExpirySeconds === undefined ? {} : { expireInSeconds: options.jobExpirySeconds };
  let sent = 0;
  for (const partition of partitions) {
    const shards = await listShards(processor, partition);
    for (const shard of shards.length > 0 ? shards.map((s) => s.id) : [undefined]) {
      const data: PartitionJobData =
        shard === undefined ? { partition, requestedAt } : { partition, shard, requestedAt };
      await boss.send(queue, data, send);
      sent++;
    }
  }
  return sent;
}
