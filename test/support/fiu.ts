/**
 * I/O faults in a child process with libfiu (Debian's `fiu-utils`): the child runs under
 * `fiu-run -x` (libfiu's POSIX preload library) and switches failure points on and off in
 * itself, at the moment it chooses, through `fiu-ctrl`. Switching them on only around the code
 * under test keeps node's own I/O (module loading, stdout) out of it.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Why libfiu cannot be used here, or false when it can. */
export const NO_FIU: string | false = (() => {
  if (process.platform !== "linux") return "libfiu's preload library needs Linux";
  for (const tool of ["fiu-run", "fiu-ctrl"]) {
    if (spawnSync("which", [tool]).status !== 0) {
      return `${tool} is missing: install Debian's fiu-utils (apt-get install fiu-utils)`;
    }
  }
  return false;
})();

/** Starts `node --import tsx SCRIPT ...args` under `fiu-run -x`, with remote control on. */
export function spawnUnderFiu(
  script: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): ChildProcess {
  const control = join(mkdtempSync(join(tmpdir(), "waymark-fiu-")), "ctrl");
  return spawn(
    "fiu-run",
    ["-x", "-f", control, process.execPath, "--import", "tsx", script, ...args],
    { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] },
  );
}

/**
 * In a child started by {@link spawnUnderFiu}: runs one libfiu command on this process, e.g.
 * `enable name=posix/io/sync/fsync,failinfo=5,onetime` (the next fsync fails with EIO) or
 * `disable name=posix/io/rw/pwrite`. Blocks until libfiu has applied it.
 */
export function fiuControl(command: string): void {
  const { FIU_CTRL_FIFO: prefix, LD_PRELOAD: _, FIU_ENABLE: __, ...env } = process.env;
  if (!prefix) throw new Error("not running under fiu-run: FIU_CTRL_FIFO is not set");
  // fiu-ctrl itself must not run under the preload library (nor get a control pipe of its own).
  const reply = execFileSync("fiu-ctrl", ["-f", prefix, "-c", command, String(process.pid)], {
    env,
    encoding: "utf8",
  });
  if (/returned error/.test(reply)) throw new Error(`fiu-ctrl: ${reply.trim()}`);
}
