import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Processor } from "../core/processor.js";
import { EXIT } from "./exit-codes.js";
import { CliError } from "./shared.js";

/** A processor of any entity, state and transaction type. */
export type AnyProcessor = Processor<unknown, unknown, unknown>;

/**
 * Imports the user's module and returns the processors it exports: the default export (one
 * processor or an array of them) or else every named export that is one. Throws a `CliError`
 * naming the file when it cannot be imported or exports none.
 */
export async function loadProcessors(file: string): Promise<AnyProcessor[]> {
  const path = resolve(file);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new CliError(`Cannot load processors from ${path}: ${message}`, EXIT.usage);
  }
  const fromDefault = [module.default].flat().filter(isProcessor);
  const found =
    fromDefault.length > 0
      ? fromDefault
      : Object.entries(module)
          .filter(([key]) => key !== "default")
          .map(([, value]) => value)
          .filter(isProcessor);
  if (found.length === 0) {
    const plain = Object.values(module).some(looksLikeDefinition);
    throw new CliError(
      `${path} exports no processor. Export processors made by defineProcessor(), as the ` +
        `default export or as named exports${plain ? " (a plain object was found: wrap it in defineProcessor({ … }))" : ""}.`,
      EXIT.usage,
    );
  }
  const names = new Set<string>();
  for (const processor of found) {
    if (names.has(processor.name)) {
      throw new CliError(
        `${path} exports two processors named "${processor.name}"; each needs its own name.`,
        EXIT.usage,
      );
    }
    names.add(processor.name);
  }
  return found;
}

// defineProcessor returns a frozen object with its defaults filled in; a plain definition
// (not frozen, no batchSize default) has not been validated and is refused.
function isProcessor(value: unknown): value is AnyProcessor {
  return looksLikeDefinition(value) && Object.isFrozen(value) && "batchSize" in value;
}

function looksLikeDefinition(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.name === "string" &&
    typeof v.entities === "function" &&
    typeof v.processBatch === "function"
  );
}
