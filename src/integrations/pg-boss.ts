/**
 * Fan-out through pg-boss (10.x): a job per partition hands the partition to whichever
 * worker fetches it; waymark builds no queue of its own. `pg-boss` is an optional peer and is
 * typed structurally here, so importing this module never loads it.
 *
 * - `suspended` (the job's deadline came): a continuation job is sent and the run resumes
 *   from its checkpoint wherever that job lands.
 * - `busy` (another runner holds the lease): the job is sent again, to start later.
 * - `failed`: the error is thrown to pg-boss, so its retry and backoff policy applies.
 * - `completed`: the job completes with the run's result as its output.
 */

import { checkpointKey } from "../core/checkpoint-key.js";
import { InvalidOptionError } from "../core/errors.js";
import type { Processor } from "../core/processor.js";
import { run } from "../core/run.js";
import type { RunResult } from "../core/run-result.js";
import { listShards, type Shard, type ShardsArgs } from "../core/shards.js";
import type { Logger } from "../core/types.js";
import type { RunStore } from "../stores/run-store.js";

/** The slice of a pg-boss 10 instance this module calls. */
export interface PgBossLike {
  createQueue(name: string, options?: { expireInSeconds?: number }): Promise<void>;
  send(
    name: string,
    data: object,
    options?: { startAfter?: number; singletonKey?: string },
  ): Promise<string | null>;
  work(
    name: string,
    options: { batchSize?: number; pollingIntervalSeconds?: number },
    handler: (
      jobs: Array<{ id: string; data: unknown; expireInSeconds: number }>,
    ) => Promise<unknown>,
  ): Promise<string>;
}

/** What one job carries. */
export interface PartitionJobData {
  readonly partition: string;
  /** The shard of the partition, when its processor defines `shards`. */
  readonly shard?: string | number;
  /**
   * When the partition was asked for (epoch ms). A job whose partition completed after
   * this is already satisfied: it completes without starting the partition over.
   */
  readonly requestedAt: number;
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
   * Time kept free before the job's expiry: the run suspends (at a batch boundary) once
   * `expireInSeconds` minus this has passed, so pg-boss never expires a job still running.
   * @default 10% of the job's expiry, at least 1000
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
 * await workPartitions(boss, summaries, { store });
 * await enqueuePartitions(boss, summaries, ["2024-01-15", "2024-01-16"]);
 */
export async function workPartitions<E, S, Tx>(
  boss: PgBossLike,
  processor: Processor<E, S, Tx>,
  options: PgBossWorkerOptions<NoInfer<Tx>>,
): Promise<string> {
  const queue = options.queue ?? defaultQueueName(processor);
  const busyRetrySeconds = options.busyRetrySeconds ?? 5;
  await boss.createQueue(queue);
  return boss.work(
    queue,
    { batchSize: 1, pollingIntervalSeconds: options.pollingIntervalSeconds ?? 2 },
    async (jobs) => {
      const outputs: RunResult[] = [];
      for (const job of jobs) {
        const data = parseJobData(job.data, queue);
        const expiryMs = job.expireInSeconds * 1000;
        const margin = options.deadlineMarginMs ?? Math.max(1000, expiryMs / 10);
        const stop = jobSignal(Math.max(0, expiryMs - margin), options.signal);
        const result = await run(guardCompleted(processor, options.store, data.requestedAt), {
          store: options.store,
          partition: data.partition,
          ...(data.shard === undefined ? {} : { shard: data.shard }),
          signal: stop.signal,
          ...(options.logger === undefined ? {} : { logger: options.logger }),
        }).finally(() => stop.dispose());
        if (result.status === "failed") throw result.error ?? new Error("the run failed");
        if (result.status === "suspended") await boss.send(queue, data);
        if (result.status === "busy") {
          await boss.send(queue, data, { startAfter: busyRetrySeconds });
        }
        outputs.push(result);
      }
      return outputs.map(({ error, ...rest }) => rest);
    },
  );
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
  options: { queue?: string; now?: () => number } = {},
): Promise<number> {
  const queue = options.queue ?? defaultQueueName(processor);
  await boss.createQueue(queue);
  const requestedAt = (options.now ?? Date.now)();
  let sent = 0;
  for (const partition of partitions) {
    const shards = await listShards(processor, partition);
    for (const shard of shards.length > 0 ? shards.map((s) => s.id) : [undefined]) {
      const data: PartitionJobData =
        shard === undefined ? { partition, requestedAt } : { partition, shard, requestedAt };
      await boss.send(queue, data);
      sent++;
    }
  }
  return sent;
}

/**
 * Aborts at the job's deadline or on shutdown, whichever comes first. A plain timer rather
 * than `AbortSignal.any([AbortSignal.timeout(…), …])`: the composite holds its sources
 * weakly, and a timeout signal collected by the GC never fires.
 */
function jobSignal(ms: number, shutdown: AbortSignal | undefined) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`the job's deadline (${ms} ms)`)), ms);
  const onShutdown = () => controller.abort(shutdown?.reason);
  if (shutdown?.aborted) onShutdown();
  else shutdown?.addEventListener("abort", onShutdown, { once: true });
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      shutdown?.removeEventListener("abort", onShutdown);
    },
  };
}

/**
 * The processor, except that a fresh start on a partition completed since `requestedAt`
 * yields nothing. It is checked inside `entities`, under the lease, so a job that arrives
 * just after another worker finished the partition cannot start it over.
 */
function guardCompleted<E, S, Tx>(
  processor: Processor<E, S, Tx>,
  store: RunStore,
  requestedAt: number,
): Processor<E, S, Tx> {
  return {
    ...processor,
    entities: async (args) => {
      if (args.after === null) {
        const completedAt = await store.lastCompletedAt(
          checkpointKey(processor.name, args.partition, args.shard?.id),
        );
        if (completedAt !== null && completedAt >= requestedAt) return [];
      }
      return processor.entities(args);
    },
  };
}

function parseJobData(data: unknown, queue: string): PartitionJobData {
  const candidate = data as Partial<PartitionJobData> | null;
  const shard = candidate?.shard;
  if (
    typeof candidate?.partition !== "string" ||
    typeof candidate.requestedAt !== "number" ||
    (shard !== undefined && typeof shard !== "string" && typeof shard !== "number")
  ) {
    throw new InvalidOptionError(
      "job.data",
      `A job on queue "${queue}" carries ${JSON.stringify(data)}; expected ` +
        "{ partition: string, shard?: string | number, requestedAt: number }. Send jobs with " +
        "enqueuePartitions().",
    );
  }
  const { partition, requestedAt } = candidate;
  return shard === undefined ? { partition, requestedAt } : { partition, shard, requestedAt };
}
