import { z } from "zod";
import { describeValue, InvalidOptionError } from "./errors.js";

/**
 * Parses `input` with `schema`, or throws an {@link InvalidOptionError} whose message names
 * each bad option, its value and the fix (the schema's messages carry the fix).
 */
export function parseOptions<T>(schema: z.ZodType<T>, input: unknown, where: string): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => describeIssue(issue, input, where));
  const first = result.error.issues[0];
  const option =
    first?.code === "unrecognized_keys"
      ? pathOf([...first.path, first.keys[0] as string])
      : pathOf(first?.path);
  throw new InvalidOptionError(option, lines.join("\n"));
}

/**
 * Throws an {@link InvalidOptionError} for the first key of `input` that `known` lacks, for
 * the options objects checked by hand rather than by a schema.
 */
export function refuseUnknownKeys(input: object, known: readonly string[], where: string): void {
  const unknown = Object.keys(input).find((key) => !known.includes(key));
  if (unknown === undefined) return;
  throw new InvalidOptionError(
    unknown,
    `Unknown ${where} option \`${unknown}\`: it takes ${known.map((k) => `\`${k}\``).join(", ")}.`,
  );
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown, where: string): string {
  if (issue.code === "unrecognized_keys") {
    // A nested option is named by its whole path: `batchSize.adaptive.targetOverhed`.
    const names = issue.keys.map((k) => `\`${pathOf([...issue.path, k])}\``).join(", ");
    return `Unknown ${where} option ${names}: check the spelling against the documented options.`;
  }
  const path = pathOf(issue.path);
  const value = valueAt(input, issue.path);
  const got = value === undefined ? "it is missing" : `got ${describeValue(value)}`;
  return `Invalid ${where} option \`${path}\`: ${issue.message}, ${got}.`;
}

function pathOf(path: readonly PropertyKey[] | undefined): string {
  return path && path.length > 0 ? path.map(String).join(".") : "(options)";
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** A schema for a function-valued option. */
export function fn(message: string) {
  // biome-ignore lint/complexity/noBannedTypes: any callable is accepted; the type comes from the definition.
  return z.custom<Function>((v) => typeof v === "function", { error: message });
}

/** A schema for a whole number from `min` up, with a message that says so. */
export function integerFrom(min: number, fix: string) {
  return z
    .number({ error: `expected an integer from ${min} and up; ${fix}` })
    .int({ error: `expected an integer from ${min} and up; ${fix}` })
    .min(min, { error: `expected an integer from ${min} and up; ${fix}` });
}
