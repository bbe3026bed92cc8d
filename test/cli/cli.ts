import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The repository root, where `src/cli/main.ts` lives. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** What one CLI invocation did. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/**
 * Runs the CLI from source in a child process, as `npx waymark ARGS` would, so that exit
 * codes and output are the real ones. `WAYMARK_STORE` is cleared so the caller's shell
 * cannot leak into a test.
 */
export function waymark(args: readonly string[], timeoutMs = 30_000): Promise<CliResult> {
  const started = performance.now();
  const env = { ...process.env };
  delete env.WAYMARK_STORE;
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    timeout: timeoutMs,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({ code, stdout, stderr, elapsedMs: performance.now() - started }),
    );
  });
}
