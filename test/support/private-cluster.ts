/**
 * A throwaway PostgreSQL cluster of the test's own, for tests that restart the server: the
 * machine's shared server is never restarted, since other tests use it at the same time.
 * initdb refuses to run as root, so the cluster belongs to the `postgres` OS user and its
 * commands run through `runuser`. The server keeps fsync on: restarts must be real.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A running private cluster. */
export interface PrivateCluster {
  /** Connection URL (trust auth, database `postgres`). */
  readonly url: string;
  /** `pg_ctl restart -m fast`: every connection is cut, then the server accepts again. */
  restart(): void;
  /** Stops the server and removes its files. */
  destroy(): void;
}

/** Where initdb and pg_ctl live: `pg_config --bindir`, else the newest distro install. */
function findBindir(): string | undefined {
  const fromEnv = process.env.WAYMARK_TEST_PG_BINDIR;
  if (fromEnv) return fromEnv;
  const config = spawnSync("pg_config", ["--bindir"], { encoding: "utf8" });
  const candidates = [config.status === 0 ? config.stdout.trim() : ""];
  const distro = "/usr/lib/postgresql";
  if (existsSync(distro)) {
    for (const v of readdirSync(distro).sort((a, b) => Number(b) - Number(a))) {
      candidates.push(join(distro, v, "bin"));
    }
  }
  return candidates.find((dir) => dir && existsSync(join(dir, "initdb")));
}

const BINDIR = findBindir();

/** Why a private cluster cannot be started here, or false when it can. */
export const NO_PRIVATE_CLUSTER: string | false = (() => {
  if (!BINDIR)
    return "no PostgreSQL server binaries (initdb, pg_ctl) found; set WAYMARK_TEST_PG_BINDIR";
  if (process.getuid?.() !== 0)
    return "a private PostgreSQL cluster needs root (to run initdb as the postgres user)";
  if (spawnSync("runuser", ["--help"]).error) return "runuser is missing";
  if (spawnSync("id", ["-u", "postgres"]).status !== 0) return "there is no postgres OS user";
  return false;
})();

function asPostgres(command: string, args: string[]): string {
  return execFileSync(
    "runuser",
    ["-u", "postgres", "--", join(BINDIR as string, command), ...args],
    {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
}

/** Creates and starts a cluster on a free port above 55432. */
export function startPrivateCluster(): PrivateCluster {
  const dir = mkdtempSync(join(tmpdir(), "waymark-pg-"));
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }));
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }));
  chownSync(dir, uid, gid);
  const data = join(dir, "data");
  asPostgres("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"]);
  let port = 0;
  let lastError: unknown;
  for (let tries = 0; tries < 5 && port === 0; tries++) {
    const candidate = 55432 + Math.floor(Math.random() * 2000);
    try {
      asPostgres("pg_ctl", [
        "start",
        "-w",
        "-D",
        data,
        "-l",
        join(dir, "server.log"),
        "-o",
        `-p ${candidate} -k ${dir} -c listen_addresses=127.0.0.1`,
      ]);
      port = candidate;
    } catch (error) {
      lastError = error; // most likely the port was taken: try another
    }
  }
  if (port === 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`could not start a private PostgreSQL cluster: ${String(lastError)}`);
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    restart() {
      asPostgres("pg_ctl", [
        "restart",
        "-w",
        "-m",
        "fast",
        "-D",
        data,
        "-l",
        join(dir, "server.log"),
        "-o",
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
      ]);
    },
    destroy() {
      try {
        asPostgres("pg_ctl", ["stop", "-w", "-m", "immediate", "-D", data]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
