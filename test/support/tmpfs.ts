/**
 * A small tmpfs of the test's own, to fill up (a full disk) or remount read-only. Mounting needs
 * root (or CAP_SYS_ADMIN); where that is not allowed, {@link tmpfsUnavailable} says why and the
 * tests skip with that reason.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A mounted tmpfs. */
export interface Tmpfs {
  readonly dir: string;
  /** Fills the file system until only `leaveBytes` (rounded to blocks) are free. */
  fill(leaveBytes?: number): void;
  /** Removes the filler: the space is free again. */
  drain(): void;
  /** Bytes free now. */
  free(): number;
  /** `mount -o remount,ro` / `rw`. */
  readOnly(on: boolean): void;
  unmount(): void;
}

let reason: string | false | undefined;

/** Why a tmpfs cannot be mounted here, or false when it can (tried once, then remembered). */
export function tmpfsUnavailable(): string | false {
  if (reason !== undefined) return reason;
  if (process.platform !== "linux") {
    reason = "tmpfs mounts need Linux";
    return reason;
  }
  const dir = mkdtempSync(join(tmpdir(), "waymark-tmpfs-probe-"));
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir], {
    encoding: "utf8",
  });
  if (mounted.status === 0) {
    spawnSync("umount", [dir]);
    reason = false;
  } else {
    const why = (mounted.stderr || mounted.error?.message || "").trim();
    reason = `cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): ${why}`;
  }
  rmSync(dir, { recursive: true, force: true });
  return reason;
}

/** Mounts a tmpfs of `sizeKiB` on a fresh temporary folder. */
export function mountTmpfs(sizeKiB: number): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), "waymark-tmpfs-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${sizeKiB}k`, "tmpfs", dir]);
  const filler = join(dir, ".filler");
  const free = () => {
    const stats = statfsSync(dir);
    return stats.bavail * stats.bsize;
  };
  return {
    dir,
    free,
    fill(leaveBytes = 0) {
      const size = Math.max(0, free() - leaveBytes);
      writeFileSync(filler, Buffer.alloc(size));
    },
    drain() {
      rmSync(filler, { force: true });
    },
    readOnly(on) {
      execFileSync("mount", ["-o", `remount,${on ? "ro" : "rw"}`, dir]);
    },
    unmount() {
      // Lazily, so that a file a failed test left open cannot keep the mount (and the test) up.
      spawnSync("umount", ["-l", dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
