import { z } from "zod";
import { fn, integerFrom } from "../validate.js";

/**
 * How a failed batch is retried inside a run. Delays grow exponentially from
 * `initialDelayMs` by `factor`, are capped at `maxDelayMs` and spread by `jitter`.
 *
 * @example
 * retry: { attempts: 5, initialDelayMs: 1000, retryable: (e) => e.status === 429 }
 */
export interface RetryOptions {
  /**
   * Retries after the first failure; 0 fails at once. With the defaults the delays are
   * 10 s, 20 s and 40 s (four calls in all), the common Cloud Run setting.
   * @default 3
   */
  attempts?: number;
  /** The delay before the first retry. @default 10_000 */
  initialDelayMs?: number;
  /** Each delay is the previous one times this. @default 2 */
  factor?: number;
  /** No delay is longer than this (before jitter). @default 300_000 */
  maxDelayMs?: number;
  /**
   * Spreads each delay uniformly over ±this fraction, so that many runners that failed
   * together do not retry together. 0 gives exact delays.
   * @default 0.1
   */
  jitter?: number;
  /**
   * Whether an error is transient (worth retrying). A permanent error fails the batch at once.
   * It decides for errors thrown by `processBatch` and for statements written through
   * `ctx.tx` that fail at commit. waymark's own errors (lease lost, bad state, out-of-order
   * entities) are never retried; a store that cannot be reached is always retried.
   * @default every error is transient but a database's permanent ones: a PostgreSQL SQLSTATE
   * of class 0A, 21, 22, 23, 26, 2F, 34, 3F, 42, 44 or 25P02, a SQLite CONSTRAINT, ERROR,
   * MISMATCH, RANGE or TOOBIG (see docs/resilience.md)
   */
  retryable?: (error: Error) => boolean;
}

/** A retry policy with defaults filled in. */
export interface RetryPolicy {
  readonly attempts: number;
  readonly initialDelayMs: number;
  readonly factor: number;
  readonly maxDelayMs: number;
  readonly jitter: number;
  /** The processor's own `retryable`, or null: a database's permanent errors are not retried. */
  readonly retryable: ((error: Error) => boolean) | null;
}

/** The policy used when a processor says nothing about retries. */
export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  attempts: 3,
  initialDelayMs: 10_000,
  factor: 2,
  maxDelayMs: 300_000,
  jitter: 0.1,
  retryable: null,
});

/** No retries at all (`retry: false`). */
const NO_RETRY: RetryPolicy = Object.freeze({ ...DEFAULT_RETRY, attempts: 0 });

const retryObjectSchema = z.strictObject({
  attempts: integerFrom(0, "pass how many retries follow a failure, e.g. 3").optional(),
  initialDelayMs: integerFrom(0, "pass milliseconds, e.g. 10_000").optional(),
  factor: z
    .number({ error: "expected a number from 1 up, e.g. 2 to double each delay" })
    .min(1, { error: "expected a number from 1 up, e.g. 2 to double each delay" })
    .optional(),
  maxDelayMs: integerFrom(0, "pass milliseconds, e.g. 300_000").optional(),
  jitter: z
    .number({ error: "expected a fraction from 0 to 1, e.g. 0.1 for ±10%" })
    .min(0, { error: "expected a fraction from 0 to 1, e.g. 0.1 for ±10%" })
    .max(1, { error: "expected a fraction from 0 to 1, e.g. 0.1 for ±10%" })
    .optional(),
  retryable: fn("expected a function (error) => boolean").optional(),
});

/**
 * The zod schema of the `retry` processor option: `false` or the object. Not a z.union: a
 * union whose object branch fails a custom check reports only "invalid input", and the user
 * should hear which field is wrong.
 */
export const retrySchema = z.any().superRefine((value, ctx) => {
  if (value === false) return;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    ctx.addIssue({
      code: "custom",
      message: "expected false or { attempts, initialDelayMs, factor, maxDelayMs, jitter }",
    });
    return;
  }
  const result = retryObjectSchema.safeParse(value);
  for (const issue of result.error?.issues ?? []) {
    const message =
      issue.code === "unrecognized_keys"
        ? `unknown retry option ${issue.keys.map((k) => `\`${k}\``).join(", ")}; expected ` +
          "attempts, initialDelayMs, factor, maxDelayMs, jitter or retryable"
        : issue.message;
    ctx.addIssue({ code: "custom", message, path: issue.path as Array<string | number> });
  }
});

/** Fills a `retry` option's defaults; `false` means no retries. */
export function resolveRetry(option: RetryOptions | false | undefined): RetryPolicy {
  if (option === false) return NO_RETRY;
  if (option === undefined) return DEFAULT_RETRY;
  const defined = Object.fromEntries(Object.entries(option).filter(([, v]) => v !== undefined));
  return Object.freeze({ ...DEFAULT_RETRY, ...defined });
}

/**
 * The delay before retry number `retry` (1 for the first), with `random()` in [0, 1) spreading
 * it by the policy's jitter.
 */
export function retryDelay(policy: RetryPolicy, retry: number, random = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (retry - 1));
  const spread = 1 + policy.jitter * (2 * random() - 1);
  return Math.round(base * spread);
}

/**
 * Waits `ms` milliseconds, or rejects with the signal's reason as soon as it aborts, so that a
 * shutdown does not wait out a long backoff. Uses the global `setTimeout`, so fake timers apply.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
