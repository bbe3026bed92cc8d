import { deserialize, serialize } from "node:v8";
import { StateError } from "./errors.js";
import { jsonLossAt, v8LossAt } from "./state-check.js";

/**
 * How a processor's state is written into its checkpoint and read back. The codec's `name` is
 * recorded in the checkpoint row, so that a resume reads the state with the codec that wrote it.
 *
 * @example
 * defineProcessor({ …, stateCodec: v8StateCodec }) // Map, Set, Date, typed arrays round-trip
 */
export interface StateCodec<S = unknown> {
  /** Recorded with every checkpoint: 1-64 characters, e.g. `json`, `v8`, `msgpack-v1`. */
  readonly name: string;
  /** The state as text. Throw (a `StateError` with `STATE_NOT_SERIALIZABLE`) for what cannot be saved. */
  encode(state: S): string;
  /** The state back from `encode`'s text. */
  decode(text: string): S;
}

/**
 * The default codec: JSON, refusing any state JSON would not give back unchanged (a Map, a
 * Set, a Date, a class instance, a function, `undefined`, `NaN`, `±Infinity`, `-0`, a sparse
 * array, a cycle, a BigInt) with `STATE_NOT_SERIALIZABLE` naming the path (`state.m: a Map`).
 */
export const jsonStateCodec: BuiltInCodec = Object.freeze({
  name: "json",
  encode(state: unknown): string {
    const loss = jsonLossAt(state);
    if (loss) {
      throw new StateError(
        "STATE_NOT_SERIALIZABLE",
        `${loss}. JSON would not give it back as it was. Keep state to plain objects, ` +
          "arrays, strings, finite numbers, booleans and null, or set `stateCodec: " +
          "v8StateCodec` on the processor to save it with node:v8.",
      );
    }
    return JSON.stringify(state);
  },
  decode: (text: string): never => JSON.parse(text) as never,
});

/**
 * node:v8's structured serialisation, as base64: Map, Set, Date, RegExp, BigInt, typed
 * arrays (model weights), `undefined`, `NaN`, `-0` and cycles round-trip; functions, symbols
 * and class instances (whose prototype v8 drops) are refused. The format is V8's: a
 * checkpoint written by one Node.js major version is read by the same or a later one.
 */
export const v8StateCodec: BuiltInCodec = Object.freeze({
  name: "v8",
  encode(state: unknown): string {
    const loss = v8LossAt(state);
    if (loss) {
      throw new StateError(
        "STATE_NOT_SERIALIZABLE",
        `${loss}. node:v8 would not give it back as it was. Keep functions, symbols and ` +
          "class instances out of state (save their fields as plain objects).",
      );
    }
    try {
      return serialize(state).toString("base64");
    } catch (error) {
      throw new StateError(
        "STATE_NOT_SERIALIZABLE",
        `node:v8 cannot save this state: ${(error as Error).message}. Keep functions and ` +
          "symbols out of state.",
      );
    }
  },
  decode: (text: string): never => deserialize(Buffer.from(text, "base64")) as never,
});

/**
 * A codec that takes any state: assignable to every processor's `StateCodec<S>` (its
 * `decode` is typed `never` so that it fits whatever `S` is).
 */
export type BuiltInCodec = StateCodec<never>;

/** The codecs a checkpoint row may name without the processor declaring them. */
export const BUILT_IN_CODECS: ReadonlyMap<string, StateCodec> = new Map<string, StateCodec>([
  ["json", jsonStateCodec],
  ["v8", v8StateCodec],
]);
