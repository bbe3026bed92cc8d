import { deserialize, serialize } from "node:v8";
import { StateError } from "./errors.js";
import { scanForJson, scanForV8 } from "./state-check.js";
import { restoreShape, withShape } from "./state-shape.js";

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
 * array, a named property of an array, a symbol-keyed or non-enumerable property, a cycle,
 * one object at two places, a BigInt) with `STATE_NOT_SERIALIZABLE` naming the path
 * (`state.m: a Map`). Objects made with `Object.create(null)` come back without a prototype.
 */
export const jsonStateCodec: BuiltInCodec = Object.freeze({
  name: "json",
  encode(state: unknown): string {
    const scan = scanForJson(state);
    if (scan.loss) {
      throw new StateError(
        "STATE_NOT_SERIALIZABLE",
        `${scan.loss}. JSON would not give it back as it was. Keep state to plain objects, ` +
          "arrays, strings, finite numbers, booleans and null, or set `stateCodec: " +
          "v8StateCodec` on the processor to save it with node:v8.",
      );
    }
    return JSON.stringify(withShape(state, scan));
  },
  decode: (text: string): never => restoreShape(JSON.parse(text)) as never,
});

/**
 * node:v8's structured serialisation, as base64: Map, Set, Date, RegExp, BigInt, typed
 * arrays (model weights), `undefined`, `NaN`, `-0`, cycles and shared objects round-trip, and
 * objects made with `Object.create(null)` come back without a prototype; functions, symbols,
 * class instances (whose prototype v8 drops) and the properties v8 drops (symbol-keyed,
 * non-enumerable, any on a Map, Set, Date or RegExp) are refused. The format is V8's: a
 * checkpoint written by one Node.js major version is read by the same or a later one.
 */
export const v8StateCodec: BuiltInCodec = Object.freeze({
  name: "v8",
  encode(state: unknown): string {
    const scan = scanForV8(state);
    if (scan.loss) {
      throw new StateError(
        "STATE_NOT_SERIALIZABLE",
        `${scan.loss}. node:v8 would not give it back as it was. Keep functions, symbols, ` +
          "class instances and properties it drops out of state (save their fields as plain " +
          "objects).",
      );
    }
    try {
      return serialize(withShape(state, scan)).toString("base64");
    } catch (error) {
      throw new StateError(
        "STATE_NOT_SERIALIZABLE",
        `node:v8 cannot save this state: ${(error as Error).message}. Keep functions and ` +
          "symbols out of state.",
      );
    }
  },
  decode: (text: string): never => restoreShape(deserialize(Buffer.from(text, "base64"))) as never,
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
