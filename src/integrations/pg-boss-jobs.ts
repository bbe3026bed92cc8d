import { InvalidOptionError } from "../core/errors.js";
import { storableText } from "../core/stored-text.js";

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
  /**
   * Set on a watch job: the id of the job running the partition. The watch job takes the
   * partition over when that job is still active but its worker's lease expired (the worker
   * died), instead of waiting for pg-boss to expire the job.
   */
  readonly watch?: string;
}

/** Reads a job's data, refusing what `enqueuePartitions` would never have sent. */
export function parseJobData(data: unknown, queue: string): PartitionJobData {
  const candidate = data as Partial<PartitionJobData> | null;
  const shard = candidate?.shard;
  const watch = candidate?.watch;
  if (
    typeof candidate?.partition !== "string" ||
    typeof candidate.requestedAt !== "number" ||
    (shard !== undefined && typeof shard !== "string" && typeof shard !== "number") ||
    (watch !== undefined && typeof watch !== "string")
  ) {
    throw new InvalidOptionError(
      "job.data",
      `A job on queue "${queue}" carries ${JSON.stringify(data)}; expected ` +
        "{ partition: string, shard?: string | number, requestedAt: number }. Send jobs with " +
        "enqueuePartitions().",
    );
  }
  const { partition, requestedAt } = candidate;
  return {
    partition,
    requestedAt,
    ...(shard === undefined ? {} : { shard }),
    ...(watch === undefined ? {} : { watch }),
  };
}

/** The job data without its `watch`: what a job that runs the partition carries. */
export function runData(data: PartitionJobData): PartitionJobData {
  const { watch: _watched, ...rest } = data;
  return rest;
}

/**
 * A job's output as pg-boss stores it: serialised into jsonb, which refuses a NUL and an
 * unpaired surrogate (`\u0000`, `\ud800`). A run's result holds text from user code (a string
 * cursor, the state), so every string is escaped; otherwise pg-boss could not complete the job
 * and it would stay active until it expired, and then run again.
 */
export function jobOutput(output: object): unknown {
  return JSON.parse(
    JSON.stringify(output, (_key, value: unknown) =>
      typeof value === "string" ? storableText(value) : value,
    ),
  );
}

/** The error a failed run hands pg-boss to record on its job, its text escaped as in {@link jobOutput}. */
export function jobError(error: Error): Error {
  const { name, message, stack } = error;
  if (storableText(message) === message && storableText(stack ?? "") === (stack ?? "")) {
    return error;
  }
  const storable = new Error(storableText(message));
  storable.name = name;
  storable.stack = storableText(stack ?? "");
  const code = (error as { code?: unknown }).code;
  return code === undefined ? storable : Object.assign(storable, { code });
}
