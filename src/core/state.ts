import { describeKey, resetCommand } from "./checkpoint-key.js";
import { StateError, StoreError } from "./errors.js";
import type { CheckpointKey } from "./types.js";

/**
 * Serialises state for a checkpoint, refusing what JSON cannot carry faithfully (cycles,
 * BigInt) and what is over `maxBytes`. Throwing here leaves the last checkpoint untouched.
 */
export function serializeState(state: unknown, maxBytes: number, where: string): string | null {
  if (state === undefined) return null;
  let json: string | undefined;
  try {
    json = JSON.stringify(state);
  } catch (error) {
    throw new StateError(
      "STATE_NOT_SERIALIZABLE",
      `The state of ${where} cannot be saved as JSON: ${(error as Error).message}. ` +
        "Keep state to plain objects, arrays, strings, finite numbers and booleans " +
        "(convert BigInt to a string, break cycles); the last checkpoint is kept.",
    );
  }
  if (json === undefined) {
    throw new StateError(
      "STATE_NOT_SERIALIZABLE",
      `The state of ${where} serialises to nothing (a function or symbol?). ` +
        "Keep state to plain JSON data; the last checkpoint is kept.",
    );
  }
  // Most states are small; only measure bytes exactly when the string could be too large.
  if (json.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(json, "utf8");
    if (bytes > maxBytes) {
      throw new StateError(
        "STATE_TOO_LARGE",
        `The state of ${where} is ${bytes} bytes as JSON, over maxStateBytes (${maxBytes}). ` +
          "Keep large data out of state (write it through ctx.tx or elsewhere), or raise " +
          "maxStateBytes on the processor; the last checkpoint is kept.",
      );
    }
  }
  return json;
}

/** Reads a checkpoint's state back; an unreadable one is reported with how to reset it. */
export function parseState(json: string | null, key: CheckpointKey): unknown {
  if (json === null) return undefined;
  try {
    return JSON.parse(json);
  } catch (error) {
    throw new StoreError(
      "CORRUPT_CHECKPOINT",
      `The checkpoint of ${describeKey(key)} holds state that is not valid JSON ` +
        `(${(error as Error).message}). Run \`${resetCommand(key)}\` to start the ` +
        "partition over.",
      { cause: error },
    );
  }
}
