/** One line of the benchmark table. Nothing is asserted: `met` only marks the goal. */
export interface BenchRow {
  readonly name: string;
  readonly value: string;
  readonly baseline: string;
  /** value / baseline: lower is better. */
  readonly ratio: number;
  /** The ratio the design aims for; none for a row shown for comparison only. */
  readonly goal: number | null;
}

/** The median of some samples. */
export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/**
 * The median of each round's own ratio `as[i] / bs[i]`: when the two halves of a round follow
 * each other, what drifts over the whole measure (the disk's sync time, GC, the JIT) moves
 * both, and cancels out of the ratio.
 */
export function pairedRatio(as: readonly number[], bs: readonly number[]): number {
  return median(as.map((value, i) => value / (bs[i] as number)));
}

/**
 * Alternates the measures `a` and `b` `rounds` times, so both see the same machine, after one
 * untimed round of each (the JIT and the database's cache warm up for both alike): the medians
 * of each and their {@link pairedRatio}.
 */
export async function alternate(
  rounds: number,
  a: () => Promise<number>,
  b: () => Promise<number>,
) {
  await a();
  await b();
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    // ABBA order: neither side always runs right after the other.
    if (i % 2 === 0) {
      as.push(await a());
      bs.push(await b());
    } else {
      bs.push(await b());
      as.push(await a());
    }
  }
  return { a: median(as), b: median(bs), ratio: pairedRatio(as, bs) };
}

/** The nearest-rank percentile (0-100) of some samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

/** Milliseconds, with enough digits for a sub-millisecond commit. */
export function ms(value: number): string {
  return value >= 100 ? `${value.toFixed(0)} ms` : `${value.toFixed(3)} ms`;
}

/** Mebibytes. */
export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Renders rows as an aligned text table. */
export function formatTable(rows: readonly BenchRow[]): string {
  const header = ["benchmark", "value", "baseline", "ratio", "goal", "status"];
  const body = rows.map((r) => [
    r.name,
    r.value,
    r.baseline,
    `${r.ratio.toFixed(2)}x`,
    r.goal === null ? "-" : `<= ${r.goal}x`,
    r.goal === null ? "shown" : r.ratio <= r.goal ? "met" : "MISSED",
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...body.map((row) => row[i]?.length ?? 0)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}
