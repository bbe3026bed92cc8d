/**
 * The benchmark side by side across two builds: each step of `bench/index.ts` runs in a fresh
 * process against an earlier build (`--before DIR`, a checkout whose `dist/` is built and whose
 * `bench/` is this one's) and against this checkout's, alternating which goes first, for
 * `--rounds` rounds. Each row's ratio to its own in-process baseline is compared, round by
 * round, so that what drifts on the machine between two processes cancels out.
 *
 * Run through `scripts/bench-compare.sh <commit> [steps]`, which builds the earlier commit.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type BenchRow, median } from "./stats.js";

const { values } = parseArgs({
  options: {
    before: { type: "string" },
    steps: { type: "string" },
    rounds: { type: "string", default: "3" },
    quick: { type: "boolean", default: false },
  },
});
if (!values.before || !values.steps) {
  console.error("usage: compare.ts --before DIR --steps 0,1,2 [--rounds 3] [--quick]");
  process.exit(2);
}
const after = fileURLToPath(new URL("../", import.meta.url));
const before = values.before;
const steps = values.steps.split(",").map(Number);
const rounds = Number(values.rounds);
const scratch = mkdtempSync(join(tmpdir(), "waymark-bench-compare-"));

/** One step's rows in a fresh process of the checkout at `root`, or null if it failed there. */
async function stepRows(root: string, step: number): Promise<BenchRow[] | null> {
  const rowsFile = join(scratch, `${step}-${Math.random().toString(36).slice(2)}.json`);
  const args = ["--import", "tsx", join(root, "bench", "index.ts"), "--step", String(step)];
  if (values.quick) args.push("--quick");
  const child = spawn(process.execPath, args, {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, ROWS_FILE: rowsFile },
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  return code === 0 ? (JSON.parse(readFileSync(rowsFile, "utf8")) as BenchRow[]) : null;
}

/** A row's name without the figures some names carry, such as `(speed-up 6.1x)`. */
function sameRow(name: string): string {
  return name.replace(/\s*\(speed-up [\d.]+x\)/, "");
}

const ratios = new Map<string, { before: number[]; after: number[] }>();
const missing = new Set<number>();
try {
  for (let round = 0; round < rounds; round++) {
    for (const step of steps) {
      if (missing.has(step)) continue;
      const order = round % 2 === 0 ? [before, after] : [after, before];
      const found = new Map<string, BenchRow[] | null>();
      for (const root of order) found.set(root, await stepRows(root, step));
      const old = found.get(before);
      const now = found.get(after);
      if (!old || !now) {
        process.stderr.write(
          `compare: step ${step} did not run on ${old ? "this build" : "the earlier build"}; left out\n`,
        );
        missing.add(step);
        continue;
      }
      for (const row of now) {
        const name = sameRow(row.name);
        const earlier = old.find((r) => sameRow(r.name) === name);
        if (!earlier) continue;
        const entry = ratios.get(name) ?? { before: [], after: [] };
        entry.before.push(earlier.ratio);
        entry.after.push(row.ratio);
        ratios.set(name, entry);
      }
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const header = ["benchmark (ratio to its own baseline)", "before", "after", "after/before"];
const body = [...ratios].map(([name, { before: b, after: a }]) => [
  name,
  `${median(b).toFixed(3)}x`,
  `${median(a).toFixed(3)}x`,
  `${median(a.map((value, i) => value / (b[i] as number))).toFixed(3)}`,
]);
const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]?.length ?? 0)));
const line = (cells: string[]) =>
  cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
console.log(
  [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n"),
);
console.log(
  `\n${rounds} rounds, each step in a fresh process per build, alternating which runs first; after/before is the median of the rounds' own quotients.`,
);
