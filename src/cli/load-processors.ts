import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Processor } from "../core/processor.js";
import { EXIT } from "./exit-codes.js";
import { CliError } from "./shared.js";

/**
 * Imports a module and finds the processor called `name` among its exports: the default
 * export (a processor, an array or an object of them) or any named export.
 */
export async function loadProcessor(file: string, name: string): Promise<Processor> {
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  } catch (error) {
    throw new CliError(
      `Cannot import ${file}: ${(error as Error).message}. Pass a JavaScript module that ` +
        "exports your processors (build TypeScript first, or run the CLI under tsx).",
      EXIT.usage,
    );
  }
  const found = candidates(module).filter(isProcessor);
  const match = found.find((p) => p.name === name);
  if (!match) {
    const names = found.map((p) => p.name).join(", ") || "none";
    throw new CliError(
      `${file} exports no processor named "${name}" (found: ${names}).`,
      EXIT.usage,
    );
  }
  return match;
}

/**
 * Imports the user's module and returns every processor it exports (the default export, an
 * array or an object of them, or named exports), for `waymark worker`. Throws a `CliError`
 * naming the file when it cannot be imported or exports none.
 */
export async function loadProcessors(file: string): Promise<Processor[]> {
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  } catch (error) {
    throw new CliError(
      `Cannot load processors from ${resolve(file)}: ${(error as Error).message}. Pass a ` +
        "JavaScript module that exports your processors (build TypeScript first, or run the " +
        "CLI under tsx).",
      EXIT.usage,
    );
  }
  const found = [...new Set(candidates(module).filter(isProcessor))];
  if (found.length === 0) {
    throw new CliError(
      `${resolve(file)} exports no processor. Export processors made by defineProcessor(), as ` +
        "the default export or as named exports.",
      EXIT.usage,
    );
  }
  const names = new Set<string>();
  for (const processor of found) {
    if (names.has(processor.name)) {
      throw new CliError(
        `${file} exports two processors named "${processor.name}"; each needs its own name.`,
        EXIT.usage,
      );
    }
    names.add(processor.name);
  }
  return found;
}

function candidates(module: Record<string, unknown>): unknown[] {
  const values: unknown[] = [];
  for (const value of Object.values(module)) {
    values.push(value);
    if (Array.isArray(value)) values.push(...value);
    else if (value && typeof value === "object" && !isProcessor(value)) {
      values.push(...Object.values(value));
    }
  }
  return values;
}

function isProcessor(value: unknown): value is Processor {
  const candidate = value as Partial<Processor> | null;
  return (
    typeof candidate === "object" &&
    candidate !== null &&
    typeof candidate.name === "string" &&
    typeof candidate.processBatch === "function" &&
    typeof candidate.entities === "function"
  );
}
