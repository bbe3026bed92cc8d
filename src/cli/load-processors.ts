import type { Processor } from "../core/processor.js";
import { EXIT } from "./exit-codes.js";
import { importModule } from "./import-module.js";
import { CliError } from "./shared.js";

/**
 * Imports a module (JavaScript, or TypeScript through tsx) and finds the processor `name`
 * among its exports: by the processor's name or by the name it is exported under (a named
 * export, or a key of a default-exported object). A name that picks two is refused.
 */
export async function loadProcessor(file: string, name: string): Promise<Processor> {
  const exported = exportsOf(await importModule(file));
  refuseDuplicateNames(
    file,
    exported.map((e) => e.processor),
  );
  const matches = exported.filter((e) => e.processor.name === name || e.as.includes(name));
  const [match, other] = matches;
  if (!match) {
    const names = exported.map((e) => e.processor.name).join(", ") || "none";
    throw new CliError(
      `${file} exports no processor named "${name}" (found: ${names}).`,
      EXIT.usage,
    );
  }
  if (other) {
    const describe = (e: Exported) =>
      `the processor named "${e.processor.name}"` +
      (e.as.length > 0 ? ` (exported as ${e.as.join(", ")})` : "");
    throw new CliError(
      `"${name}" picks two processors of ${file}: ${describe(match)} and ${describe(other)}. ` +
        "Name the one to run by its processor name, or rename an export.",
      EXIT.usage,
    );
  }
  return match.processor;
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
  refuseDuplicateNames(file, found);
  return found;
}

/** Two processors with one name would share checkpoints: whichever is asked for, refuse. */
function refuseDuplicateNames(file: string, processors: readonly Processor[]): void {
  const names = new Set<string>();
  for (const processor of processors) {
    if (names.has(processor.name)) {
      throw new CliError(
        `${file} exports two processors named "${processor.name}"; each needs its own name.`,
        EXIT.usage,
      );
    }
    names.add(processor.name);
  }
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
  return exportsOf(module).map((e) => e.processor);
}

/** A processor of the module and the names it is exported under. */
interface Exported {
  readonly processor: Processor;
  readonly as: string[];
}

/** Every processor of the module once, with its export names (`default` left out). */
function exportsOf(module: Record<string, unknown>): Exported[] {
  const found = new Map<Processor, string[]>();
  const add = (value: unknown, as: string | null) => {
    if (!isProcessor(value)) return;
    const names = found.get(value) ?? [];
    if (as !== null && as !== "default" && !names.includes(as)) names.push(as);
    found.set(value, names);
  };
  for (const [key, value] of Object.entries(module)) {
    add(value, key);
    if (Array.isArray(value)) for (const item of value) add(item, null);
    else if (value && typeof value === "object" && !isProcessor(value)) {
      for (const [inner, item] of Object.entries(value)) add(item, inner);
    }
  }
  return [...found].map(([processor, as]) => ({ processor, as }));
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
