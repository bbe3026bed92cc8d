import { describeKey, resetCommand } from "./checkpoint-key.js";
import { StateError, StoreError } from "./errors.js";
import { BUILT_IN_CODECS, jsonStateCodec, type StateCodec } from "./state-codecs.js";
import { unstorableIn } from "./stored-text.js";
import type { CheckpointKey } from "./types.js";

/** What encoding and decoding state needs from a processor. */
export interface StateOwner {
  readonly stateCodec?: StateCodec | undefined;
  readonly maxStateBytes: number;
}

/** The codec a processor writes its state with. */
export function codecOf(processor: StateOwner): StateCodec {
  return processor.stateCodec ?? jsonStateCodec;
}

/**
 * Encodes state for a checkpoint with the processor's codec, refusing what the codec would not
 * give back unchanged (`STATE_NOT_SERIALIZABLE`, naming the path) and what is over
 * `maxStateBytes` (`STATE_TOO_LARGE`). Throwing here leaves the last checkpoint untouched.
 */
export function encodeState(state: unknown, processor: StateOwner, where: string): string | null {
  if (state === undefined) return null;
  const codec = codecOf(processor);
  let text: unknown;
  try {
    text = codec.encode(state);
  } catch (error) {
    if (error instanceof StateError && error.code === "STATE_NOT_SERIALIZABLE") {
      throw new StateError(
        "STATE_NOT_SERIALIZABLE",
        `The state of ${where} cannot be saved: ${error.message} The last checkpoint is kept.`,
      );
    }
    throw new StateError(
      "STATE_NOT_SERIALIZABLE",
      `The state of ${where} cannot be saved with the ${codec.name} codec: ` +
        `${(error as Error).message}. The last checkpoint is kept.`,
    );
  }
  if (typeof text !== "string") {
    throw new StateError(
      "STATE_NOT_SERIALIZABLE",
      `The ${codec.name} state codec of ${where} returned ${typeof text}, not a string. ` +
        "encode(state) must return text; the last checkpoint is kept.",
    );
  }
  // The built-in codecs write JSON or base64, which never holds either.
  const unstorable = BUILT_IN_CODECS.get(codec.name) === codec ? null : unstorableIn(text);
  if (unstorable) {
    throw new StateError(
      "STATE_NOT_SERIALIZABLE",
      `The ${codec.name} state codec of ${where} returned text with ${unstorable}, which a ` +
        "store cannot keep exactly. Encode binary data as base64 (or escape it as JSON does); " +
        "the last checkpoint is kept.",
    );
  }
  // Most states are small; only measure bytes exactly when the string could be too large.
  if (text.length * 3 > processor.maxStateBytes) {
    const bytes = Buffer.byteLength(text, "utf8");
    if (bytes > processor.maxStateBytes) {
      throw new StateError(
        "STATE_TOO_LARGE",
        `The state of ${where} is ${bytes} bytes encoded (${codec.name}), over maxStateBytes ` +
          `(${processor.maxStateBytes}). Keep large data out of state (write it through ctx.tx ` +
          "or ctx.artifacts), or raise maxStateBytes on the processor; the last checkpoint is kept.",
      );
    }
  }
  return text;
}

/**
 * Reads a checkpoint's state back with the codec its row names (`codecName`; null for rows
 * written before codecs were recorded, which are JSON): the processor's own codec, or a built-in
 * one (`json`, `v8`). An unknown codec or unreadable text is reported with how to reset.
 */
export function decodeState(
  text: string | null,
  codecName: string | null,
  processor: StateOwner,
  key: CheckpointKey,
): unknown {
  if (text === null) return undefined;
  const own = codecOf(processor);
  const name = codecName ?? "json";
  const codec = own.name === name ? own : BUILT_IN_CODECS.get(name);
  if (!codec) {
    throw new StateError(
      "STATE_CODEC_UNKNOWN",
      `The checkpoint of ${describeKey(key)} holds state written with the "${name}" codec, and ` +
        `this processor reads "${own.name}". Set stateCodec back to the codec named "${name}", ` +
        `or run \`${resetCommand(key)}\` to start the partition over.`,
    );
  }
  try {
    return codec.decode(text);
  } catch (error) {
    throw new StoreError(
      "CORRUPT_CHECKPOINT",
      `The checkpoint of ${describeKey(key)} holds state its ${codec.name} codec cannot read ` +
        `(${(error as Error).message}). Run \`${resetCommand(key)}\` to start the partition over.`,
      { cause: error },
    );
  }
}
