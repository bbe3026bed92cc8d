import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";
import { createProgressDisplay } from "../../src/core/progress.js";
import { defineProcessor, InvalidOptionError, MemoryStore, run } from "../../src/index.js";

const CYAN = "\u001b[36m";
const FIXTURE = fileURLToPath(new URL("../fixtures/progress-run.ts", import.meta.url));

/** Runs the fixture; with `tty`, under `script` so that it gets a real pseudo-terminal. */
function fixture(args: string[], options: { tty: boolean; env?: NodeJS.ProcessEnv }) {
  const argv = [process.execPath, "--import", "tsx", FIXTURE, ...args];
  const [command, commandArgs] = options.tty
    ? ["script", ["-qfec", argv.map((a) => `'${a}'`).join(" "), "/dev/null"]]
    : [argv[0] as string, argv.slice(1)];
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(command, commandArgs as string[], {
      env: { ...process.env, ...options.env },
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

describe("run(..., { progress: true })", () => {
  it("in a terminal draws a coloured bar with completed/total, rate, ETA and the resume point", async () => {
    const out = await fixture(["on", "resume"], { tty: true, env: { NO_COLOR: "" } });
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.ok(out.stdout.includes(CYAN), "the bar is coloured");
    assert.match(
      stripVTControlCharacters(out.stdout),
      /alpha\/p1 [█░]+ 60\/100 +60% \| [\d.]+\/s \| ETA \d+m?s \| resumed from 50/,
    );
    assert.match(out.stdout, /100\/100 +100%/);
    assert.match(out.stdout, /alpha\/p1: completed at 100\/100 in/);
    assert.match(out.stdout, /"loaded":true/);
  });

  it("honours NO_COLOR", async () => {
    const out = await fixture(["on"], { tty: true, env: { NO_COLOR: "1" } });
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.match(out.stdout, /alpha\/p1 [█░]+ 100\/100 +100%/);
    assert.ok(!out.stdout.includes(CYAN), "no colour under NO_COLOR");
  });

  it("without a terminal prints plain lines on stderr, not a bar", async () => {
    const out = await fixture(["on", "resume"], { tty: false });
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stderr.trim().split("\n");
    assert.match(
      lines[0] ?? "",
      /^alpha\/p1: 60\/100 \(60\.0%\) [\d.]+\/s ETA \S+ \| resumed from 50$/,
    );
    assert.match(lines.at(-1) ?? "", /^alpha\/p1: completed at 100\/100 in \S+$/);
    assert.equal(stripVTControlCharacters(out.stderr), out.stderr, "no escape codes");
    assert.doesNotMatch(out.stderr, /[█░]/);
  });

  it("costs nothing when off: cli-progress is never loaded and nothing is printed", async () => {
    const out = await fixture(["off"], { tty: false });
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /"loaded":false,"metricsLoaded":false/);
    assert.equal(out.stderr, "");
  });

  it("rejects a progress option that is not a boolean, naming it", async () => {
    const processor = defineProcessor({
      name: "x",
      entities: () => [],
      id: String,
      processBatch() {},
    });
    await assert.rejects(
      run(processor, { store: new MemoryStore(), progress: "yes" as unknown as boolean }),
      (error: unknown) =>
        error instanceof InvalidOptionError &&
        error.option === "progress" &&
        /expected true or false, got "yes"/.test(error.message),
    );
  });

  it("plain lines come at most once per interval, by the injected clock", () => {
    const stream = new PassThrough();
    let text = "";
    stream.on("data", (d) => {
      text += d;
    });
    let now = 0;
    const display = createProgressDisplay("p/x", {
      stream,
      plainEveryMs: 10_000,
      clock: () => now,
    });
    const at = (completed: number, elapsedMs: number) =>
      display.onProgress({
        processor: "p",
        partition: "x",
        completed,
        total: 100,
        processed: completed,
        batches: completed / 10,
        resumedFrom: null,
        cursor: completed,
        elapsedMs,
      });
    at(10, 1000);
    now = 9_999;
    at(20, 2000);
    now = 10_000;
    at(30, 3000);
    display.finish({ status: "completed", completed: 100, total: 100, durationMs: 10_000 });
    assert.deepEqual(text.trim().split("\n"), [
      "p/x: 10/100 (10.0%) 10.0/s ETA 9s",
      "p/x: 30/100 (30.0%) 10.0/s ETA 7s",
      "p/x: completed at 100/100 in 10s",
    ]);
  });
});
