#!/usr/bin/env node
// Runs every test/**/*.test.ts, two files at a time, each in its own node process with node's
// test runner, and prints each file's report when it ends, then the slowest files and the
// total time. Extra arguments narrow the run (`npm test -- test/stores`); arguments starting
// with `-` go to node (`npm test -- --test-name-pattern=lease`).
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, relative } from "node:path";
import { performance } from "node:perf_hooks";

/** A file that runs longer than this is killed and counts as failed. */
const FILE_TIMEOUT_MS = 240_000;
const CONCURRENCY =
  Number(process.env.WAYMARK_TEST_CONCURRENCY) || Math.min(2, availableParallelism());
const SLOWEST = 10;
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes start with ESC
const ANSI = /\x1b\[[0-9;]*m/g;

function collect(path) {
  if (statSync(path).isFile()) return path.endsWith(".test.ts") ? [path] : [];
  return readdirSync(path)
    .sort()
    .flatMap((name) => collect(join(path, name)));
}

const args = process.argv.slice(2);
const roots = args.filter((a) => !a.startsWith("-"));
const flags = args.filter((a) => a.startsWith("-"));
const files = (roots.length ? roots : ["test"]).flatMap(collect);
if (files.length === 0) {
  console.error("No test files found.");
  process.exit(1);
}

/** Runs one test file; resolves with its exit status, output and wall time. */
function runFile(file) {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--test-reporter=spec", "--test-timeout=120000", ...flags, file],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, FORCE_COLOR: process.stdout.isTTY ? "1" : "0" },
      },
    );
    const chunks = [];
    child.stdout.on("data", (chunk) => chunks.push(chunk));
    child.stderr.on("data", (chunk) => chunks.push(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, FILE_TIMEOUT_MS);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      let output = Buffer.concat(chunks).toString();
      if (timedOut) output += `\n✖ ${file} killed after ${FILE_TIMEOUT_MS / 1000} s\n`;
      resolve({ file, ok: code === 0 && !timedOut, code, signal, ms, output });
    });
  });
}

const started = performance.now();
const results = [];
const queue = [...files];
async function worker() {
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    const result = await runFile(file);
    results.push(result);
    process.stdout.write(`\n▶ ${relative(".", file)} (${seconds(result.ms)})\n${result.output}`);
  }
}
await Promise.all(Array.from({ length: Math.min(CONCURRENCY, files.length) }, worker));
const wall = performance.now() - started;

const failed = results.filter((r) => !r.ok);
// What was skipped and why, once per reason: a missing server or browser must be visible.
const skipped = new Map();
for (const r of results) {
  for (const line of r.output.replace(ANSI, "").split("\n")) {
    const reason = /^\s*﹣ .* # (.+)$/.exec(line)?.[1];
    if (reason && reason !== "SKIP") skipped.set(reason, (skipped.get(reason) ?? 0) + 1);
  }
}
const slowest = [...results].sort((a, b) => b.ms - a.ms).slice(0, SLOWEST);
const lines = [
  "",
  ...(skipped.size ? ["Skipped:"] : []),
  ...[...skipped].map(([reason, n]) => `  ${n} × ${reason}`),
  `Slowest test files (${CONCURRENCY} at a time):`,
  ...slowest.map((r) => `  ${seconds(r.ms).padStart(7)}  ${relative(".", r.file)}`),
  `${results.length} files in ${seconds(wall)}; ${failed.length} failed.`,
  ...failed.map(
    (r) => `  ✖ ${relative(".", r.file)} (${r.signal ? `signal ${r.signal}` : `exit ${r.code}`})`,
  ),
];
process.stdout.write(`${lines.join("\n")}\n`);
process.exit(failed.length === 0 ? 0 : 1);

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}
