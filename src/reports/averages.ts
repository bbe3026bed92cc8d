/** The sums and averages the reports compute over runs. */

export function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** The mean of a non-empty list. */
export function mean(values: readonly number[]): number {
  return sum(values) / values.length;
}

/** The median of a non-empty list: the mean of the middle two when their number is even. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
