/**
 * Durations as the reports print them: in the unit that shows them (`850 ms`, `30.0 s`,
 * `19.8 min`, `2.5 h`), never `0.0 min` for a real duration. Figures printed side by side,
 * where one is the difference of the others (time saved, overhead, net saving), share the
 * unit of the largest and are rounded before the difference is taken, so that the arithmetic
 * on screen adds up: `4.5 s - 2.0 s = 2.5 s`, never `4 s - 1 s = 2 s`.
 */

/** Units by the magnitude they serve: `[below, unit in ms, decimals, suffix]`. */
const UNITS: ReadonlyArray<
  readonly [below: number, unit: number, decimals: number, suffix: string]
> = [
  [1000, 1, 0, "ms"],
  [60_000, 1000, 1, "s"],
  [36_000_000, 60_000, 1, "min"],
  [Number.POSITIVE_INFINITY, 3_600_000, 1, "h"],
];

/** One duration in the unit that shows it. */
export function durationText(ms: number): string {
  return durationTexts([ms])[0] as string;
}

/** Durations in the unit of the largest, each rounded to what is shown. */
export function durationTexts(values: readonly number[]): string[] {
  const [unit, decimals, suffix] = unitFor(values);
  return values.map((ms) => `${(ms / unit).toFixed(decimals)} ${suffix}`);
}

/**
 * `[first, ...rest, first - sum(rest)]` in one unit, the difference taken from the rounded
 * figures, so that what is printed adds up.
 */
export function differenceTexts(first: number, ...rest: number[]): string[] {
  const [unit, decimals, suffix] = unitFor([first, ...rest]);
  const scale = 10 ** decimals;
  const shown = [first, ...rest].map((ms) => Math.round((ms / unit) * scale));
  const difference = shown.reduce((a, b, i) => (i === 0 ? b : a - b), 0);
  return [...shown, difference].map((n) => `${(n / scale).toFixed(decimals)} ${suffix}`);
}

function unitFor(values: readonly number[]): readonly [number, number, string] {
  const largest = Math.max(0, ...values.map(Math.abs));
  const [, unit, decimals, suffix] = UNITS.find(([below]) => largest < below) as (typeof UNITS)[0];
  return [unit, decimals, suffix];
}
