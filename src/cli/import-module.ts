import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, extname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { EXIT } from "./exit-codes.js";
import { CliError } from "./shared.js";

const TYPESCRIPT = new Set([".ts", ".mts", ".cts", ".tsx"]);

/**
 * Flags with which the user may already have given node a loader (tsx, ts-node, swc). They
 * also preload modules that load nothing (instrumentation, say): such a run is told apart by
 * node refusing the `.ts` file, and then goes through tsx after all.
 */
const LOADER_FLAGS = /^(--import|--loader|--experimental-loader|--require|-r)(=|$)/;

let tsxRegistered = false;

/**
 * Imports the user's module: JavaScript as is; TypeScript through `tsx` when it is installed
 * in the user's project (next to the module or in the working directory), or through the
 * loader node was already started with (`node --import tsx`, `npx tsx`). Anything else is a
 * `CliError` (exit 2) that says what to install or pass instead.
 */
export async function importModule(file: string): Promise<Record<string, unknown>> {
  const path = resolve(file);
  if (!existsSync(path)) {
    throw new CliError(`Cannot find ${file} (looked at ${path}).`, EXIT.usage);
  }
  const typescript = TYPESCRIPT.has(extname(path));
  if (typescript && !hasOwnLoader()) await registerTsx(path, file);
  try {
    return esModuleOf((await import(pathToFileURL(path).href)) as Record<string, unknown>);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ERR_UNKNOWN_FILE_EXTENSION" && typescript && !tsxRegistered) {
      // The flags node was given loaded no TypeScript: node remembers the refused import, so
      // it goes through tsx's own `tsImport` rather than a second plain `import`.
      return tsImportModule(path, file).catch((failed: unknown) => {
        throw failed instanceof CliError ? failed : cannotImport(file, failed);
      });
    }
    throw cannotImport(file, error);
  }
}

/**
 * The module's own exports. A TypeScript module that node takes for CommonJS (its package has
 * no `"type": "module"`) arrives with all of them under `default`, marked `__esModule` by the
 * compiler: its named exports and its own default export are inside.
 */
function esModuleOf(module: Record<string, unknown>): Record<string, unknown> {
  const inner = module.default as { __esModule?: unknown } | null | undefined;
  return typeof inner === "object" && inner !== null && inner.__esModule === true
    ? (inner as Record<string, unknown>)
    : module;
}

/**
 * The module (or one it imports) threw while loading: its own message, and where it threw,
 * which the user needs to fix it (the whole stack with WAYMARK_DEBUG set).
 */
function cannotImport(file: string, error: unknown): CliError {
  const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const stack = error instanceof Error ? (error.stack ?? "") : "";
  if (process.env.WAYMARK_DEBUG) {
    return new CliError(`Cannot import ${file}: ${stack || what}`, EXIT.usage);
  }
  // A syntax error's stack starts with the file and line; any other's first frame outside
  // node's own code is where the module threw.
  const lines = stack.split("\n");
  const source = /^(file:|\/)\S*:\d+$/.test(lines[0] ?? "") ? lines[0] : undefined;
  const frame = lines.find((line) => /^\s+at /.test(line) && !line.includes("node:"));
  const at = source ?? frame?.trim().replace(/^at /, "");
  // An error that names the line to fix already (a bad defineProcessor call) needs no more.
  const named = at !== undefined && what.includes(/([^\s()]+:\d+:\d+)\)?$/.exec(at)?.[1] ?? at);
  return new CliError(
    `Cannot import ${file}: ${what}${at && !named ? ` (at ${at})` : ""}`,
    EXIT.usage,
  );
}

/** Imports `path` through the project's tsx without registering its hooks for the process. */
async function tsImportModule(path: string, file: string): Promise<Record<string, unknown>> {
  const api = findTsx([dirname(path), process.cwd()], "./esm/api");
  if (!api) throw new CliError(tsxMissing(file), EXIT.usage);
  const { tsImport } = (await import(pathToFileURL(api).href)) as {
    tsImport(specifier: string, parentUrl: string): Promise<Record<string, unknown>>;
  };
  return esModuleOf(await tsImport(pathToFileURL(path).href, import.meta.url));
}

/** Whether node runs with a loader or type stripping of its own: then it imports TypeScript. */
function hasOwnLoader(): boolean {
  const features = process.features as { typescript?: unknown };
  return Boolean(features.typescript) || process.execArgv.some((arg) => LOADER_FLAGS.test(arg));
}

/**
 * Registers tsx for the process, found from the module's folder or the working directory, by
 * importing its main entry: what `node --import tsx` does. That hooks both module systems: a
 * `.ts` file in a package without `"type": "module"` (npm init's default) is CommonJS to node.
 */
async function registerTsx(path: string, file: string): Promise<void> {
  if (tsxRegistered) return;
  const loader = findTsx([dirname(path), process.cwd()], ".");
  if (!loader) throw new CliError(tsxMissing(file), EXIT.usage);
  await import(pathToFileURL(loader).href);
  tsxRegistered = true;
}

/**
 * The ESM file of tsx's export `entry` ("." or "./esm/api") as the first of `folders`
 * resolves the package, or null: read from tsx's own exports map rather than guessed.
 */
function findTsx(folders: readonly string[], entry: "." | "./esm/api"): string | null {
  for (const folder of folders) {
    let manifest: string;
    try {
      manifest = createRequire(join(folder, "noop.js")).resolve("tsx/package.json");
    } catch {
      continue;
    }
    const pkg = JSON.parse(readFileSync(manifest, "utf8")) as {
      exports?: Record<string, { import?: { default?: string } } | string>;
    };
    const target = pkg.exports?.[entry];
    const file = typeof target === "object" ? target.import?.default : target;
    if (file) return join(dirname(manifest), file);
  }
  return null;
}

function tsxMissing(file: string): string {
  return (
    `Cannot load ${file}: TypeScript modules are loaded through tsx, which is not installed ` +
    "in this project. Install it with `npm install --save-dev tsx`, or compile the module " +
    "and pass the .js file."
  );
}
