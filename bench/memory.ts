import { execFile } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type BenchRow, mib } from "./stats.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const execFileAsync = promisify(execFile);

interface Peak {
  peakRss: number;
  peakHeap: number;
}

/** Peak memory of consuming `count` entities, in a fresh process so that nothing is shared. */
async function measure(count: number, mode: "run" | "bare", liveHeap: boolean): Promise<Peak> {
  const flags = liveHeap ? ["--expose-gc"] : [];
  const script = join(HERE, "memory-child.ts");
  const { stdout } = await execFileAsync(
    process.execPath,
    [...flags, "--import", "tsx", script, String(count), mode],
    { cwd: join(HERE, ".."), encoding: "utf8" },
  );
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as Peak;
}

/**
 * Peak memory of a large run against a small one. A lazy runner keeps them close; the live
 * heap (after a full GC) shows a leak, peak RSS also shows the GC letting garbage pile up
 * before it collects, which a bare `for await` loop over the same source shows too.
 */
export async function memory(quick: boolean): Promise<BenchRow[]> {
  const large = quick ? 200_000 : 1_000_000;
  // Peak RSS against a run long enough to grow V8's young generation and SQLite's page cache
  // as the large one does; the live heap against a short run (what the run holds on to).
  const rssBase = quick ? 50_000 : 300_000;
  const small = 10_000;
  const n = (count: number) => count.toLocaleString("en");
  // Separate processes measure their own peaks, so they can run side by side.
  const [bigRun, smallRun, bigBare, bigHeap, smallHeap] = await Promise.all([
    measure(large, "run", false),
    measure(rssBase, "run", false),
    measure(large, "bare", false),
    measure(large, "run", true),
    measure(small, "run", true),
  ]);
  return [
    {
      name: `peak RSS: run of ${n(large)} vs ${n(rssBase)} entities`,
      value: mib(bigRun.peakRss),
      baseline: mib(smallRun.peakRss),
      ratio: bigRun.peakRss / smallRun.peakRss,
      // Shown: the GC's slack, not the runner, sets it; the live heap row below is the goal.
      goal: null,
    },
    {
      name: `peak RSS: run vs bare for-await loop, ${n(large)} entities`,
      value: mib(bigRun.peakRss),
      baseline: mib(bigBare.peakRss),
      ratio: bigRun.peakRss / bigBare.peakRss,
      goal: null,
    },
    {
      name: `peak live heap after GC: run of ${n(large)} vs ${n(small)}`,
      value: mib(bigHeap.peakHeap),
      baseline: mib(smallHeap.peakHeap),
      ratio: bigHeap.peakHeap / smallHeap.peakHeap,
      goal: 1.2,
    },
  ];
}
