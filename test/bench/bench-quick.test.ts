import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

describe("npm run bench -- --quick", () => {
  it("prints the table with every benchmark, its baseline, ratio and goal", {
    timeout: 150_000,
  }, async () => {
    // The benchmark measures the built package, as `npm run bench` builds it.
    if (!existsSync(join(ROOT, "dist", "index.js"))) {
      execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: "ignore" });
    }
    // Without a server: the rows checked below need none, and the PostgreSQL steps doubled
    // this file's time in npm test's full leg. `npm run bench` with a server runs them.
    const env = { ...process.env };
    for (const name of ["WAYMARK_BENCH_PG_URL", "WAYMARK_TEST_PG_URL", "DATABASE_URL"]) {
      delete env[name];
    }
    const child = spawn(process.execPath, ["--import", "tsx", "bench/index.ts", "--quick"], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    assert.equal(code, 0, stderr);
    const lines = stdout.split("\n");
    assert.match(lines[0] ?? "", /^benchmark\s+value\s+baseline\s+ratio\s+goal\s+status$/);
    for (const name of [
      /^overhead: 100,000 no-op entities/,
      /^sqlite commit, synchronous=FULL, median/,
      /^sqlite commit, synchronous=FULL, p99/,
      /^sqlite commit, synchronous=NORMAL, median/,
      /^sqlite commit, synchronous=NORMAL, p99/,
      /^peak RSS: run of 200,000 vs 50,000 entities/,
      /^peak RSS: run vs bare for-await loop/,
      /^peak live heap after GC/,
    ]) {
      const row = lines.find((line) => name.test(line));
      assert.ok(row, `no row ${name} in:\n${stdout}`);
      // value, baseline, ratio, goal and whether it was met, each a real figure.
      assert.match(
        row,
        /\d+(\.\d+)? (ms|MiB)\s+\d+(\.\d+)? (ms|MiB)\s+\d+\.\d\dx\s+(<= 1\.[125]x\s+(met|MISSED)|-\s+shown)$/,
      );
    }
    // The elastic backfill's rows and the lone run's: real figures beside their baselines.
    for (const name of [
      /^lone run never split: fromRange 2,000 in batches of 10 on sqlite, CPU per batch/,
      /^elastic sqlite: 16 partitions, one with half of 480, 4 processes, splitting/,
      /^elastic sqlite: 16 partitions, one with half of 480, 4 processes, never split/,
      /^elastic sqlite: 16 even partitions of 480, 4 processes against a quarter of 1/,
    ]) {
      const row = lines.find((line) => name.test(line));
      assert.ok(row, `no row ${name} in:\n${stdout}`);
      assert.match(
        row,
        /\d+(\.\d+)? (ms|µs)\s+\d+(\.\d+)? (ms|µs)\s+\d+\.\d\dx\s+(<= [\d.]+x\s+(met|MISSED)|-\s+shown)$/,
      );
    }
    // The sources' rows: throughput shows entities per second beside the time.
    for (const name of [
      /^fromFile \(ndjson\): 50,000 lines, no-op batches vs bare readline loop/,
      /^fromFile \(ndjson\): bytes read before the first batch of a resume/,
      /^peak RSS: fromFile \(ndjson\), 50,000 vs 10,000 entities/,
      /^peak RSS: fromRange, 50,000 vs 10,000 entities/,
    ]) {
      const row = lines.find((line) => name.test(line));
      assert.ok(row, `no row ${name} in:\n${stdout}`);
      assert.match(
        row,
        /\d+(\.\d+)? (ms|MiB)( \(\d+k\/s\))?\s+.*\d+\.\d\dx\s+(<= [\d.]+x\s+(met|MISSED)|-\s+shown)$/,
      );
    }
  });
});
