import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root, where `src/cli/main.ts` lives. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const BUILT = join(ROOT, "dist", "cli", "main.js");
/** tsx's loader by its full path, so that a command run from any folder finds it. */
const TSX = import.meta.resolve("tsx");

/**
 * The node arguments that run `waymark`: the built CLI when `dist/` is newer than every
 * source file (npm install and CI build it), which starts without a loader, as a user's
 * `npx waymark` does; the sources through tsx otherwise, so that a test never runs stale
 * code. A module of the test's in TypeScript is loaded by the CLI through tsx either way.
 */
export const CLI: readonly string[] = builtIsCurrent() ? [BUILT] : ["--import", TSX, MAIN];

function builtIsCurrent(): boolean {
  let built: number;
  try {
    built = statSync(BUILT).mtimeMs;
  } catch {
    return false;
  }
  const sources = join(ROOT, "src");
  return readdirSync(sources, { recursive: true, encoding: "utf8" }).every(
    (file) => statSync(join(sources, file)).mtimeMs < built,
  );
}

/** What one CLI invocation printed and how it exited. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/** Variables of the caller's shell that change what a command does, cleared unless given. */
const AMBIENT = ["WAYMARK_STORE", "DATABASE_URL", "WAYMARK_LOG", "WAYMARK_DEBUG"];

/** The environment of a CLI child: this process's, without {@link AMBIENT}, plus `extra`. */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of AMBIENT) delete env[name];
  return { ...env, ...extra };
}

/**
 * Runs `waymark ARGS` from source in a child process without a terminal, as `npx waymark ARGS`
 * would, so that exit codes and output are the real ones. Store and log variables of the
 * caller's shell are cleared so that they cannot leak into a test; `env` adds variables.
 */
export function waymark(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<CliResult> {
  const started = performance.now();
  const child = spawn(process.execPath, [...CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    env: cliEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"],
    timeout: options.timeoutMs ?? 30_000,
  });
  return collect(child, started);
}

/** A `waymark` child still running: its output so far, a way to wait for a line, its end. */
export interface LiveCli {
  readonly child: ChildProcess;
  readonly output: { stdout: string; stderr: string };
  /** Resolves once stdout or stderr matches `pattern`; fails after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  readonly exited: Promise<CliResult>;
}

/** Starts `waymark ARGS` like {@link waymark}, for tests that signal or kill it mid-run. */
export function startWaymark(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv } = {},
): LiveCli {
  const started = performance.now();
  const child = spawn(process.execPath, [...CLI, ...args], {
    cwd: ROOT,
    env: cliEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = { stdout: "", stderr: "" };
  const waiters: Array<() => void> = [];
  const exited = collect(child, started, (stream, chunk) => {
    output[stream] += chunk;
    for (const check of [...waiters]) check();
  });
  return {
    child,
    output,
    exited,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${output.stderr}`));
        }, timeoutMs);
        const check = () => {
          if (!pattern.test(output.stdout) && !pattern.test(output.stderr)) return;
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(check), 1);
          resolve();
        };
        waiters.push(check);
        check();
        void exited.then(() => {
          if (!waiters.includes(check)) return;
          clearTimeout(timer);
          reject(new Error(`exited before ${pattern}:\n${output.stdout}\n${output.stderr}`));
        });
      });
    },
  };
}

/**
 * Runs `waymark ARGS` in a real pseudo-terminal (util-linux `script`), typing `input` once the
 * `[y/N]` question is on the screen. The terminal echoes what was typed, and stderr and stdout
 * arrive merged.
 */
export function waymarkInTerminal(args: readonly string[], input: string): Promise<CliResult> {
  const started = performance.now();
  const command = [process.execPath, ...CLI, ...args]
    .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
    .join(" ");
  const child = spawn("script", ["-qfec", command, "/dev/null"], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let seen = "";
  let pending = input;
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    seen += chunk;
    if (pending && seen.includes("[y/N]")) {
      child.stdin.end(pending);
      pending = "";
    }
  });
  return collect(child, started);
}

function collect(
  child: ChildProcess,
  started: number,
  onData?: (stream: "stdout" | "stderr", chunk: string) => void,
): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    onData?.("stdout", chunk);
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
    onData?.("stderr", chunk);
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({ code, stdout, stderr, elapsedMs: performance.now() - started }),
    );
  });
}
