import type { Processor } from "../core/processor.js";
import { EXIT } from "./exit-codes.js";
import { importModule } from "./import-module.js";
import { CliError } from "./shared.js";

/**
 * Imports a module (JavaScript, or TypeScript through tsx) and finds the processor `name`
 * among its exports: by the processor's name or by the name it is exported under.
 */
export async function loadProcessor(file: string, name: string): Promise<Processor> {
  const module = await importModule(file);
  const found = processorsOf(module);
  const exported = module[name];
  const match = found.find((p) => p.name === name) ?? (isProcessor(exported) ? exported : null);
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
  const found = processorsOf(await importModule(file));
  if (found.length === 0) {
    throw new CliError(
      `${file} exports no processor. Export processors made by defineProcessor(), as ` +
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

/**
 * The processor `name` of the module, or its only processor when `name` is left out; a
 * module with several needs the name, and the error lists them.
 */
export async function pickProcessor(file: string, name: string | undefined): Promise<Processor> {
  if (name !== undefined) return loadProcessor(file, name);
  const found = await loadProcessors(file);
  if (found.length > 1) {
    throw new CliError(
      `${file} exports ${found.length} processors (${found.map((p) => p.name).join(", ")}); ` +
        "name the one to run after the module, e.g. `waymark run " +
        `${file} ${found[0]?.name}\`.`,
      EXIT.usage,
    );
  }
  return found[0] as Processor;
}

function processorsOf(module: Record<string, unknown>): Processor[] {
  return [...new Set(candidates(module).filter(isProcessor))];
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
