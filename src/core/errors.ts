import { describeKey, resetCommand } from "./checkpoint-key.js";
import type { CheckpointKey } from "./types.js";

/** Every code a {@link WaymarkError} can carry. Match on `error.code`, not on the message. */
export type WaymarkErrorCode =
  | "INVALID_OPTION"
  | "INVALID_STORE_URL"
  | "STORE_UNAVAILABLE"
  | "STORE_INCOMPATIBLE"
  | "STORE_CORRUPT"
  | "STORE_FULL"
  | "STORE_READ_ONLY"
  | "STORE_IO_ERROR"
  | "STORE_CLOSED"
  | "STORE_TIMEOUT"
  | "OUTCOME_UNKNOWN"
  | "STORE_NOT_FOUND"
  | "CORRUPT_CHECKPOINT"
  | "FENCED"
  | "ORDER_VIOLATION"
  | "VERSION_MISMATCH"
  | "STATE_NOT_SERIALIZABLE"
  | "STATE_TOO_LARGE"
  | "STATE_CODEC_UNKNOWN"
  | "SKIP_LIMIT"
  | "ABORTED"
  | "MISSING_PEER"
  | "INPUT_DRIFT"
  | "SHARD_DRIFT"
  | "ARTIFACT_TOO_LARGE"
  | "INVALID_ENTITY"
  | "SOURCE_FAILED"
  | "NEVER_SETTLES"
  | "BATCH_TIMEOUT"
  | "RATE_LIMITED";

/** The base class of every error waymark raises on purpose. */
export class WaymarkError extends Error {
  readonly code: WaymarkErrorCode;

  constructor(code: WaymarkErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "WaymarkError";
    this.code = code;
  }
}

/** An option or argument has a bad value. The message names the option, the value and the fix. */
export class InvalidOptionError extends WaymarkError {
  readonly option: string;

  constructor(option: string, message: string) {
    super("INVALID_OPTION", message);
    this.name = "InvalidOptionError";
    this.option = option;
  }
}

/**
 * The codes of a {@link StoreError}:
 * - `INVALID_STORE_URL`: the store URL cannot be used;
 * - `STORE_UNAVAILABLE`: the server cannot be reached or the file opened (connection lost,
 *   login refused, a path that names a folder or runs through a file, a lock held too long);
 * - `STORE_INCOMPATIBLE`: the schema is newer than this waymark;
 * - `STORE_CORRUPT`: the file is not a database, or is damaged;
 * - `STORE_FULL`: the disk is full;
 * - `STORE_READ_ONLY`: the file or its folder cannot be written;
 * - `STORE_IO_ERROR`: the disk failed a read, write or sync;
 * - `STORE_CLOSED`: the store was used after `close()`;
 * - `STORE_TIMEOUT`: a call did not finish in the time its run had left (near or after its
 *   deadline, or in its shutdown grace): it was cancelled, or not made at all
 *   (`nothingLanded`); a cancelled write is read back, as a lost reply is;
 * - `OUTCOME_UNKNOWN`: a write's reply was lost and the store could not be read back to learn
 *   whether it landed (the next run reads the checkpoint and goes on from whatever did);
 * - `STORE_NOT_FOUND`: opened without creating it (`create: false`, `readOnly`), there is no
 *   store there: no file, or no waymark schema in it, or one older than this waymark;
 * - `CORRUPT_CHECKPOINT`: one checkpoint row holds values no run could have written.
 */
export type StoreErrorCode =
  | "INVALID_STORE_URL"
  | "STORE_UNAVAILABLE"
  | "STORE_INCOMPATIBLE"
  | "STORE_CORRUPT"
  | "STORE_FULL"
  | "STORE_READ_ONLY"
  | "STORE_IO_ERROR"
  | "STORE_CLOSED"
  | "STORE_TIMEOUT"
  | "OUTCOME_UNKNOWN"
  | "STORE_NOT_FOUND"
  | "CORRUPT_CHECKPOINT";

/**
 * The store cannot be opened, reached or used. The message says what to do; `location` names
 * the store (a file path, or a URL without its password); `cause` is the driver's error.
 */
export class StoreError extends WaymarkError {
  /** The store's file path or redacted URL, when known. */
  readonly location: string | undefined;
  /**
   * Whether the store is known not to have applied the call: it never reached the store (the
   * connection was never made, the login was refused) or was cancelled before it finished.
   * A write that failed so needs no read-back: nothing of it landed.
   */
  readonly nothingLanded: boolean;

  constructor(
    code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown; location?: string; nothingLanded?: boolean },
  ) {
    super(code, message, options);
    this.name = "StoreError";
    this.location = options?.location;
    this.nothingLanded = options?.nothingLanded ?? false;
  }
}

/**
 * A checkpoint row holds a value no run could have written (code `CORRUPT_CHECKPOINT`): the run
 * refuses it before writing anything. Only a reset (`waymark reset`) recovers the partition.
 */
export class CorruptCheckpointError extends StoreError {
  /** The checkpoint whose row is corrupt. */
  readonly key: CheckpointKey;
  /** The column that holds the bad value, e.g. `completed`. */
  readonly field: string;
  /** The value as the driver returned it. */
  readonly value: unknown;

  constructor(key: CheckpointKey, field: string, value: unknown, problem: string) {
    super(
      "CORRUPT_CHECKPOINT",
      `The checkpoint of ${describeKey(key)} is corrupt: ${field} is ${describeValue(value)}; ` +
        `${problem}. Reset it with \`${resetCommand(key)}\` to start the ` +
        "partition over.",
    );
    this.name = "CorruptCheckpointError";
    this.key = { processor: key.processor, partition: key.partition, shard: key.shard };
    this.field = field;
    this.value = value;
  }
}

/** This runner's lease was taken over by another runner; it must stop without committing. */
export class FencedError extends WaymarkError {
  constructor(message: string) {
    super("FENCED", message);
    this.name = "FencedError";
  }
}

/** An entity arrived with a cursor not greater than the one before it. */
export class OrderViolationError extends WaymarkError {
  constructor(message: string) {
    super("ORDER_VIOLATION", message);
    this.name = "OrderViolationError";
  }
}

/** State that cannot be saved or read back: lossy for its codec, over `maxStateBytes`, or written by a codec the processor does not have. */
export class StateError extends WaymarkError {
  constructor(
    code: "STATE_NOT_SERIALIZABLE" | "STATE_TOO_LARGE" | "STATE_CODEC_UNKNOWN",
    message: string,
  ) {
    super(code, message);
    this.name = "StateError";
  }
}

/**
 * Throw it from `processBatch` when an API answers 429 (or asks to slow down): every runner
 * sharing the processor's quota key pauses until `retryAfterMs` from now, and the batch is
 * tried again after the pause without using one of its retry attempts. A pause that would
 * outlast the run's deadline suspends the run instead (`reason: "rate-limited"`).
 *
 * @example
 * const response = await fetch(url, { signal: ctx.signal });
 * if (response.status === 429) throw RateLimitedError.fromResponse(response);
 */
export class RateLimitedError extends WaymarkError {
  /** How long every runner of the key waits, from when the store records the pause. */
  readonly retryAfterMs: number;
  /** The quota key to pause; unset pauses every quota of the processor. */
  readonly key: string | undefined;

  constructor(options: RateLimitedOptions) {
    // Checked at run time too: a JavaScript caller may pass anything.
    const { retryAfterMs, key } = (options ?? {}) as Partial<RateLimitedOptions>;
    if (typeof retryAfterMs !== "number" || !Number.isFinite(retryAfterMs) || retryAfterMs < 0) {
      throw new InvalidOptionError(
        "retryAfterMs",
        `RateLimitedError expected retryAfterMs in milliseconds from 0 up, got ` +
          `${describeValue(retryAfterMs)}; read it with RateLimitedError.fromResponse(response).`,
      );
    }
    super(
      "RATE_LIMITED",
      options?.message ??
        `Rate limited${key === undefined ? "" : ` (quota ${JSON.stringify(key)})`}: retry after ${Math.round(retryAfterMs)} ms.`,
      { cause: options?.cause },
    );
    this.name = "RateLimitedError";
    this.retryAfterMs = retryAfterMs;
    this.key = key;
  }

  /**
   * The error for a `fetch` `Response` (or anything with `status` and `headers.get`), its
   * pause read from `Retry-After` (seconds, or an HTTP date); `fallbackMs` when the header is
   * missing or unreadable.
   */
  static fromResponse(
    response: RateLimitedResponse,
    options: { key?: string; fallbackMs?: number } = {},
  ): RateLimitedError {
    const header = response.headers.get("retry-after");
    const retryAfterMs = retryAfterMsOf(header) ?? options.fallbackMs ?? 1000;
    return new RateLimitedError({
      retryAfterMs,
      ...(options.key === undefined ? {} : { key: options.key }),
      message:
        `HTTP ${response.status}${header === null ? "" : ` (Retry-After: ${header})`}: ` +
        `rate limited, retry after ${Math.round(retryAfterMs)} ms.`,
    });
  }
}

/**
 * Whether `error` is a {@link RateLimitedError}: by class, or by its code and pause, so that one
 * thrown by another copy of waymark (a module loaded twice) pauses all the same.
 */
export function isRateLimited(error: unknown): error is RateLimitedError {
  if (error instanceof RateLimitedError) return true;
  const candidate = error as { code?: unknown; retryAfterMs?: unknown } | null;
  return (
    typeof candidate === "object" &&
    candidate !== null &&
    candidate.code === "RATE_LIMITED" &&
    typeof candidate.retryAfterMs === "number" &&
    Number.isFinite(candidate.retryAfterMs) &&
    candidate.retryAfterMs >= 0
  );
}

/** What {@link RateLimitedError} is made of. */
export interface RateLimitedOptions {
  /** How long to pause, in ms, from when the pause is recorded. */
  readonly retryAfterMs: number;
  /** The quota key the 429 came from; unset pauses every quota of the processor. */
  readonly key?: string;
  readonly message?: string;
  readonly cause?: unknown;
}

/** The part of a `fetch` `Response` that {@link RateLimitedError.fromResponse} reads. */
export interface RateLimitedResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
}

/**
 * A `Retry-After` header in milliseconds from `now`: delay-seconds (`120`, `1.5`) or an HTTP
 * date; null when it is missing or unreadable. A date in the past is 0.
 */
export function retryAfterMsOf(header: string | null, now: number = Date.now()): number | null {
  if (header === null) return null;
  const text = header.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** Describes a value for an error message: `1.5 (number)`, `"x" (string)`. */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return `${JSON.stringify(value)} (string)`;
  if (typeof value === "bigint") return `${value}n (bigint)`;
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "function") return "a function";
  return `${String(value)} (${typeof value})`;
}
