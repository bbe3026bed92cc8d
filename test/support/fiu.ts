/**
 * I/O faults in a child process with libfiu (Debian's `fiu-utils`): the child runs under
 * `fiu-run -x` (libfiu's POSIX preload library) and switches failure points on and off in
 * itself, at the moment it chooses, through libfiu's remote control. Switching them on only around the code
 * under test keeps node's own I/O (module loading, stdout) out of it.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Why libfiu cannot be used here, or false when it can. */
export const NO_FIU: string | false = (() => {
  if (process.platform !== "linux") return "libfiu's preload library needs Linux";
  if (spawnSync("which", ["fiu-run"]).status !== 0) {
    return "fiu-run is missing: install Debian's fiu-utils (apt-get install fiu-utils)";
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
 * `disable name=posix/io/rw/pwrite`, and returns once libfiu has applied it. It speaks
 * fiu-ctrl's protocol itself (a line on `PREFIX-PID.in`, the reply on `PREFIX-PID.out`, read
 * by libfiu's own thread), which spares a process per command. Throws when libfiu refuses.
 */
export function fiuControl(command: string): void {
  const prefix = process.env.FIU_CTRL_FIFO;
  if (!prefix) throw new Error("not running under fiu-run: FIU_CTRL_FIFO is not set");
  const pipe = `${prefix}-${process.pid}`;
  writeFileSync(`${pipe}.in`, `${command}\n`);
  const reply = readFileSync(`${pipe}.out`, "utf8").trim();
  if (reply !== "0") throw new Error(`libfiu refused "${command}" (${reply})`);
}
