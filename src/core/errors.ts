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
  | "BATCH_TIMEOUT";

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

  constructor(
    code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown; location?: string },
  ) {
    super(code, message, options);
    this.name = "StoreError";
    this.location = options?.location;
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
