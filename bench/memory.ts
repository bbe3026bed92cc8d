import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BenchRow, mib } from "./stats.js";

const HERE = dirname(fileURLToPath(import.meta.url));

interface Peak {
  peakRss: number;
  peakHeap: number;
}

/** Peak memory of consuming `count` entities, in a fresh process so that nothing is shared. */
function measure(count: number, mode: "run" | "bare", liveHeap: boolean): Peak {
  const flags = liveHeap ? ["--expose-gc"] : [];
  const script = join(HERE, "memory-child.ts");
  const out = execFileSync(
    process.execPath,
    [...flags, "--import", "tsx", script, String(count), mode],
    { cwd: join(HERE, ".."), encoding: "utf8" },
  );
  return JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as Peak;
}

/**
 * Peak memory of a large run against a small one. A lazy runner keeps them close; the live
 * heap (after a full GC) shows a leak, peak RSS also shows the GC letting garbage pile up
 * before it collects, which a bare `for await` loop over the same source shows too.
 */
export function memory(quick: boolean): BenchRow[] {
  const large = quick ? 200_000 : 1_000_000;
  const small = 10_000;
  const n = (count: number) => count.toLocaleString("en");
  const bigRun = measure(large, "run", false);
  const smallRun = measure(small, "run", false);
  const bigBare = measure(large, "bare", false);
  const bigHeap = measure(large, "run", true);
  const smallHeap = measure(small, "run", true);
  return [
    {
      name: `peak RSS: run of ${n(large)} vs ${n(small)} entities`,
      value: mib(bigRun.peakRss),
      baseline: mib(smallRun.peakRss),
      ratio: bigRun.peakRss / smallRun.peakRss,
      goal: 1.2,
    },
    {
      name: `peak RSS: run vs bare for-await loop, ${n(large)} entities`,
      value: mib(bigRun.peakRss),
      baseline: mib(bigBare.peakRss),
      ratio: bigRun.peakRss / bigBare.peakRss,
      goal: 1.2,
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
