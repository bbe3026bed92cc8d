// waymark run's progress bars in a real terminal (a tmux pane 100 columns wide): log lines
// written while the bars are drawn leave nothing of them behind, and the bars fit the width
// (the overall bar's ETA was cut off at the terminal's edge).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { until } from "../support/time.js";
import { CLI, cliEnv, ROOT } from "./cli.js";

const MODULE = fileURLToPath(new URL("../fixtures/backfill-processors.ts", import.meta.url));
const WIDTH = 100;
const TMUX = spawnSync("tmux", ["-V"]).status === 0;
const DAYS = Array.from({ length: 6 }, (_, i) => `2024-01-0${i + 1}`);

describe("waymark run in a terminal", { skip: TMUX ? false : "tmux is not installed" }, () => {
  let dir: string;
  let socket: string;
  const tmux = (...args: string[]) =>
    spawnSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-terminal-"));
    socket = `waymark-test-${process.pid}`;
  });
  after(() => {
    tmux("kill-server");
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps log lines whole and every bar inside the width", async () => {
    const db = join(dir, "waymark.db");
    const database = new Database(db);
    database.exec(`CREATE TABLE effects (processor TEXT, partition TEXT, entity INTEGER,
      writes INTEGER, PRIMARY KEY (processor, partition, entity))`);
    database.close();
    // Three partitions at a time, 12 batches of 40 ms each: their Completed lines arrive
    // while the other bars are drawn.
    const env = { ...cliEnv(), ENTITIES: "60", BATCH_SIZE: "5", BATCH_DELAY_MS: "40" };
    const command = [process.execPath, ...CLI, "run", MODULE, "visits"]
      .concat(["--partitions", DAYS.join(","), "--concurrency", "3", "--store", `sqlite:${db}`])
      .map((arg) => `'${arg}'`)
      .join(" ");
    const script = join(dir, "run.sh");
    writeFileSync(script, `cd '${ROOT}'\n${command}\necho "EXIT $?"\nexec sleep 600\n`);
    const started = tmux(
      "new-session",
      "-d",
      "-x",
      String(WIDTH),
      "-y",
      "40",
      ...Object.entries(env).flatMap(([name, value]) => ["-e", `${name}=${value}`]),
      `sh '${script}'`,
    );
    assert.equal(started.status, 0, started.stderr);
    // -J joins a line the terminal wrapped, so that what was written as one line reads as one.
    const screen = () => tmux("capture-pane", "-p", "-J").stdout;
    await until("waymark run to finish", () => screen().includes("EXIT "), { intervalMs: 200 });
    const lines = screen().split("\n");
    assert.ok(lines.includes("EXIT 0"), screen());

    const completed = lines.filter((line) => line.includes("] Completed visits/"));
    assert.equal(completed.length, DAYS.length, screen());
    for (const line of completed) {
      // Once: "… in 527 ms. 117/s | ETA 43ms", the tail of a bar it was written over.
      assert.match(
        line,
        /^\[waymark\] Completed visits\/2024-01-0\d: 60\/60 \(100\.0%\) in \d+ ms\.$/,
      );
    }
    const overall = lines.filter((line) => line.startsWith("visits █"));
    assert.equal(overall.length, 1, screen());
    assert.match(
      overall[0] ?? "",
      / 6\/6 partitions \| 0 running \| 360 entities \| [\d.]+\/s \| ETA \d+m?s$/,
    );
    assert.ok((overall[0] ?? "").length < WIDTH, `${overall[0]?.length} columns`);
  });
});
