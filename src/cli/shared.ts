import { type Command, Option } from "commander";
import { StoreError, WaymarkError } from "../core/errors.js";
import type { CheckpointStore, CorruptCheckpoint } from "../core/store/checkpoint-store.js";
import { DEFAULT_STORE_URL, openStore, redact } from "../stores/open-store.js";
import { EXIT } from "./exit-codes.js";

/** Options every store-reading command takes. */
export interface StoreCommandOptions {
  store: string;
  json?: boolean;
}

/** How `--store` defaults, as every command's help states it. */
export const STORE_DEFAULT_HELP = `$WAYMARK_STORE, else $DATABASE_URL when it is a postgres:// URL, else ${DEFAULT_STORE_URL}`;

/**
 * The store a command uses without `--store`: `WAYMARK_STORE`, then `DATABASE_URL` when it is
 * a PostgreSQL URL (where platforms put the database), then the SQLite default.
 */
export function defaultStoreUrl(env: NodeJS.ProcessEnv = process.env): string {
  if (env.WAYMARK_STORE) return env.WAYMARK_STORE;
  if (env.DATABASE_URL && /^postgres(ql)?:\/\//.test(env.DATABASE_URL)) return env.DATABASE_URL;
  return DEFAULT_STORE_URL;
}

/**
 * Adds `--store` (defaulting as {@link defaultStoreUrl} says) and `--json`, described as
 * `jsonHelp` says.
 */
export function withStoreOptions(
  command: Command,
  jsonHelp = "print machine-readable JSON instead of a table",
): Command {
  return command
    .addOption(
      new Option("--store <url>", "store URL: sqlite:PATH, postgres://…, memory:").default(
        defaultStoreUrl(),
        STORE_DEFAULT_HELP,
      ),
    )
    .option("--json", jsonHelp);
}

/** A flag's whole number from 1 up, or a usage error naming the flag and an example. */
export function positiveInteger(
  value: string,
  option: string,
  example: string,
  max = Number.MAX_SAFE_INTEGER,
): number {
  // Digits only: Number() would also read 1e3, 0x10 and " 4 ".
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? "from 1 up" : `from 1 to ${max}`;
    throw new CliError(
      `${option} expects a whole number ${range}, got ${JSON.stringify(value)}; pass ${example}.`,
      EXIT.usage,
    );
  }
  return n;
}

/**
 * What a command does with its store: `read` it (reports: opened read-only), `change` one that
 * exists (gc, reset), or `create` it if need be (commands that run processors). Only `create`
 * ever makes a file, a folder or a schema.
 */
export type StoreAccess = "read" | "change" | "create";

/**
 * Opens the store, runs `action`, always closes it. A store that cannot be opened exits 3;
 * one that is not there (`read`, `change`) says so, and how to point at another.
 */
export async function usingStore<T>(
  url: string,
  action: (store: CheckpointStore) => Promise<T>,
  access: StoreAccess = "create",
): Promise<T> {
  let store: CheckpointStore;
  try {
    store = await openStore(url, {
      create: access === "create",
      readOnly: access === "read",
    });
  } catch (error) {
    if (error instanceof StoreError && error.code === "STORE_NOT_FOUND") {
      const hint =
        url === DEFAULT_STORE_URL
          ? `\nThat is the default store. Point at yours with --store URL (sqlite:PATH or ` +
            "postgres://…) or WAYMARK_STORE (or a postgres:// DATABASE_URL)."
          : "";
      throw new CliError(`${error.message}${hint}`, EXIT.store);
    }
    const message = error instanceof Error ? error.message : String(error);
    throw new CliError(`Cannot open store ${redact(url)}: ${message}`, EXIT.store);
  }
  try {
    return await action(store);
  } finally {
    await store.close();
  }
}

/**
 * Ends a report whose readable rows were printed: the corrupt rows named on stderr, each with
 * its reset, and exit code 65.
 */
export function failOnCorrupt(corrupt: readonly CorruptCheckpoint[]): void {
  if (corrupt.length === 0) return;
  const count =
    corrupt.length === 1 ? "1 corrupt checkpoint" : `${corrupt.length} corrupt checkpoints`;
  throw new CliError(
    `${count} in the store:\n${corrupt.map((c) => `  ${c.message}`).join("\n")}`,
    EXIT.corrupt,
  );
}

/** An error that ends the CLI with a message and a specific exit code. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT.failure) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** The exit code for an error thrown by a command. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof CliError) return error.exitCode;
  if (error instanceof WaymarkError) {
    if (error.code === "INVALID_OPTION") return EXIT.usage;
    if (error.code.startsWith("STORE_") || error.code === "INVALID_STORE_URL") return EXIT.store;
  }
  return EXIT.failure;
}

/** Prints JSON to stdout, one document, for scripts. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Prints rows as an aligned text table; `empty` when there are none. The `shard` column is
 * left out when no row has a shard, so unsharded work reads as it always did.
 */
export function printTable(
  rows: ReadonlyArray<Record<string, string>>,
  allColumns: ReadonlyArray<readonly [key: string, heading: string]>,
  empty: string,
): void {
  if (rows.length === 0) {
    process.stdout.write(`${empty}\n`);
    return;
  }
  const columns = rows.some((row) => row.shard)
    ? allColumns
    : allColumns.filter(([key]) => key !== "shard");
  const widths = columns.map(([key, heading]) =>
    Math.max(heading.length, ...rows.map((row) => (row[key] ?? "").length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  const out = [line(columns.map(([, heading]) => heading))];
  for (const row of rows) out.push(line(columns.map(([key]) => row[key] ?? "")));
  process.stdout.write(`${out.join("\n")}\n`);
}

/** A duration in ms as a short human string: `850ms`, `12s`, `4m 05s`, `3h 10m`, `2d 4h`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}
