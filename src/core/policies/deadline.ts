import { z } from "zod";

/**
 * Plans batches against a deadline: keeps a running estimate of the time one entity takes
 * (Welford's mean and variance) and refuses to start a batch whose likely duration would
 * cross `deadline - marginMs`. The hard deadline itself is enforced by aborting `ctx.signal`.
 */
export class DeadlinePlanner {
  /** Epoch ms at which the run must be done. */
  readonly deadline: number;
  readonly #marginMs: number;
  readonly #sigmas: number;
  #count = 0;
  #mean = 0;
  #m2 = 0;
  #maxSeen = 0;

  /** `sigmas` is how many standard deviations above the mean a batch is assumed to take. */
  constructor(deadline: number, marginMs: number, sigmas = 3) {
    this.deadline = deadline;
    this.#marginMs = marginMs;
    this.#sigmas = sigmas;
  }

  /** Records a finished batch of `size` entities that took `durationMs`, commit included. */
  record(size: number, durationMs: number): void {
    if (size <= 0) return;
    const perEntity = durationMs / size;
    this.#count++;
    const delta = perEntity - this.#mean;
    this.#mean += delta / this.#count;
    this.#m2 += delta * (perEntity - this.#mean);
    this.#maxSeen = Math.max(this.#maxSeen, perEntity);
  }

  /**
   * The likely duration of a batch of `size`: the larger of the slowest batch seen and
   * mean + k·stddev, inflated while few batches have been seen (a small sample
   * underestimates the spread). 0 before the first batch.
   */
  estimate(size: number): number {
    if (this.#count === 0) return 0;
    const stddev = this.#count > 1 ? Math.sqrt(this.#m2 / (this.#count - 1)) : 0;
    const perEntity = Math.max(this.#maxSeen, this.#mean + this.#sigmas * stddev);
    return perEntity * size * (1 + 1 / Math.sqrt(this.#count));
  }

  /** Whether a batch of `size` starting at `now` would likely end past the margin. */
  wouldOverrun(now: number, size: number): boolean {
    return now + this.estimate(size) > this.deadline - this.#marginMs;
  }
}

/** Deadline options shared by `run`: the schema pieces, so run-options stays small. */
export const deadlineSchemas = {
  deadline: z
    .union([z.date(), z.number()], {
      error: "expected a Date or epoch milliseconds, e.g. Date.now() + 15 * 60_000",
    })
    .refine((v) => Number.isFinite(v instanceof Date ? v.getTime() : v), {
      error: "expected a valid Date or finite epoch milliseconds",
    }),
  timeBudgetMs: z
    .number({ error: "expected milliseconds above 0, e.g. 55 * 60_000" })
    .positive({ error: "expected milliseconds above 0, e.g. 55 * 60_000" }),
  deadlineMarginMs: z
    .number({ error: "expected milliseconds from 0 up, e.g. 5000" })
    .min(0, { error: "expected milliseconds from 0 up, e.g. 5000" }),
};

/** The deadline a run's options imply: the earlier of `deadline` and `startedAt + timeBudgetMs`. */
export function resolveDeadline(
  options: { deadline?: Date | number; timeBudgetMs?: number },
  startedAt: number,
): number | null {
  const candidates: number[] = [];
  if (options.deadline !== undefined) {
    candidates.push(
      options.deadline instanceof Date ? options.deadline.getTime() : options.deadline,
    );
  }
  if (options.timeBudgetMs !== undefined) candidates.push(startedAt + options.timeBudgetMs);
  return candidates.length === 0 ? null : Math.min(...candidates);
}

/**
 * The deadline of a Cloud Run request or job task: `startedAt + timeoutSeconds`. Pass the
 * service's request timeout (60 min at most) or the job's task timeout.
 *
 * @example
 * await run(processor, { store, deadline: cloudRunDeadline(3600), deadlineMarginMs: 30_000 });
 */
export function cloudRunDeadline(timeoutSeconds: number, startedAt: number = Date.now()): number {
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    throw new RangeError(
      `cloudRunDeadline(timeoutSeconds) expected seconds above 0, e.g. 3600, got ${timeoutSeconds}.`,
    );
  }
  return startedAt + timeoutSeconds * 1000;
}

/**
 * The deadline of an AWS Lambda invocation, from the handler's `context`.
 *
 * @example
 * export const handler = async (event, context) =>
 *   run(processor, { store, deadline: lambdaDeadline(context), deadlineMarginMs: 10_000 });
 */
export function lambdaDeadline(
  context: { getRemainingTimeInMillis(): number },
  now: number = Date.now(),
): number {
  if (typeof context?.getRemainingTimeInMillis !== "function") {
    throw new TypeError(
      "lambdaDeadline(context) expected the Lambda handler's context, which has " +
        "getRemainingTimeInMillis().",
    );
  }
  return now + context.getRemainingTimeInMillis();
}
