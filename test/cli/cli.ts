import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

/** What one CLI invocation printed and how it exited. */
export interface CliOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `waymark ARGS` in a child process from the sources, without a terminal. */
export function waymark(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Runs `waymark ARGS` in a real pseudo-terminal (util-linux `script`), typing `input` into
 * it. The terminal echoes what was typed, and stderr and stdout arrive merged.
 */
export function waymarkInTerminal(args: readonly string[], input: string): Promise<CliOutcome> {
  const command = [process.execPath, "--import", "tsx", MAIN, ...args]
    .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
    .join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qfec", command, "/dev/null"], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
      // Answer once the question is on the screen.
      if (input && stdout.includes("[y/N]")) {
        child.stdin.end(input);
        input = "";
      }
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
