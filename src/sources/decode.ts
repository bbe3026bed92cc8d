import { describeValue, InvalidOptionError, WaymarkError } from "../core/errors.js";

/**
 * Turns a raw row or record into an entity: a function, or a schema with `parse` (a zod
 * schema, or anything shaped like one) whose output type becomes the entity type.
 */
export type Decoder<In, E> = ((raw: In) => E) | { parse(raw: unknown): E };

/** A decoder as one function that names the record it rejects. */
export type DecodeFn<In, E> = (raw: In, describe: () => string) => E;

/** Reads a `decode` option: undefined passes records through unchanged. */
export function decoderOf<In, E>(
  decode: Decoder<In, E> | undefined,
  where: string,
): DecodeFn<In, E> {
  if (decode === undefined) return (raw) => raw as unknown as E;
  const call =
    typeof decode === "function"
      ? decode
      : typeof decode?.parse === "function"
        ? (raw: In) => decode.parse(raw)
        : null;
  if (call === null) {
    throw new InvalidOptionError(
      "decode",
      `Invalid ${where} option \`decode\`: expected a function (row) => entity or a schema with ` +
        `parse (e.g. a zod schema), got ${describeValue(decode)}.`,
    );
  }
  return (raw, describe) => {
    try {
      return call(raw);
    } catch (error) {
      throw new WaymarkError(
        "INVALID_ENTITY",
        `${where}: decode rejected ${describe()}: ${(error as Error)?.message ?? String(error)}. ` +
          "Fix the data or the decoder; the run stopped before it, its last checkpoint is kept.",
        { cause: error },
      );
    }
  };
}
