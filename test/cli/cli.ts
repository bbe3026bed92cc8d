import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The repository root, where `src/cli/main.ts` lives. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

/** What one CLI invocation printed and how it exited. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/**
 * Runs `waymark ARGS` from source in a child process without a terminal, as `npx waymark ARGS`
 * would, so that exit codes and output are the real ones. `WAYMARK_STORE` is cleared so the
 * caller's shell cannot leak into a test; `env` adds variables.
 */
export function waymark(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  const started = performance.now();
  const env = { ...process.env, ...options.env };
  if (!options.env?.WAYMARK_STORE) delete env.WAYMARK_STORE;
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    timeout: options.timeoutMs ?? 30_000,
  });
  return collect(child, started);
}

/**
 * Runs `waymark ARGS` in a real pseudo-terminal (util-linux `script`), typing `input` once the
 * `[y/N]` question is on the screen. The terminal echoes what was typed, and stderr and stdout
 * arrive merged.
 */
export function waymarkInTerminal(args: readonly string[], input: string): Promise<CliResult> {
  const started = performance.now();
  const command = [process.execPath, "--import", "tsx", MAIN, ...args]
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

function collect(child: ReturnType<typeof spawn>, started: number): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({ code, stdout, stderr, elapsedMs: performance.now() - started }),
    );
  });
}
