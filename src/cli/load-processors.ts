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
