import type { KeyKind, KeyValue } from "./key-cursor.js";

// Positions a text midpoint writes after the common prefix: enough to land between any two
// distinct keys, few enough that the guess stays a short string.
const TEXT_DIGITS = 12;
const DAY_MS = 86_400_000;
const CLASSES = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x61, 0x7a],
] as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A key about halfway between `low` and `high` (`low` first in the key's order), in the key's
 * own order: the leading columns they share, then a value between theirs in the first column
 * where they differ. It is a guess to seek from, not a row: the split probe takes the row at
 * or below it, and keeps to `[low, high]` whatever the guess.
 */
export function keyBetween(
  low: readonly KeyValue[],
  high: readonly KeyValue[],
  kinds: readonly KeyKind[],
): KeyValue[] {
  const column = low.findIndex((value, i) => value !== high[i]);
  if (column < 0) return [...low];
  const a = low[column] as KeyValue;
  const b = high[column] as KeyValue;
  return [...low.slice(0, column), valueBetween(a, b, kinds[column] ?? "auto")];
}

function valueBetween(a: KeyValue, b: KeyValue, kind: KeyKind): KeyValue {
  if (typeof a === "number" && typeof b === "number") return a + Math.floor((b - a) / 2);
  if (typeof a !== "string" || typeof b !== "string") return a; // SQLite's mixed types
  if (kind === "date") return dayBetween(a, b);
  if (kind === "uuid") return uuidBetween(a, b);
  return textBetween(a, b);
}

/** The day halfway between two `YYYY-MM-DD` days: a `date` parameter must be a date. */
function dayBetween(a: string, b: string): string {
  const from = Date.parse(`${a}T00:00:00Z`);
  const to = Date.parse(`${b}T00:00:00Z`);
  if (Number.isNaN(from) || Number.isNaN(to)) return a;
  const day = from + Math.floor((to - from) / DAY_MS / 2) * DAY_MS;
  return new Date(day).toISOString().slice(0, 10);
}

/** The uuid halfway between two, as 128-bit numbers: a `uuid` parameter must be a uuid. */
function uuidBetween(a: string, b: string): string {
  if (!UUID.test(a) || !UUID.test(b)) return a;
  const number = (uuid: string) => BigInt(`0x${uuid.replaceAll("-", "")}`);
  const hex = ((number(a) + number(b)) / 2n).toString(16).padStart(32, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * A string halfway between two in code point order (the order of `COLLATE "C"` and SQLite's
 * `BINARY`). After their common prefix, each position is a digit whose alphabet spans the two
 * strings' characters there, widened to whole classes (`0`-`9`, `A`-`Z`, `a`-`z`), with 0 for
 * "the string has ended"; the two numbers are averaged and written back. So `2024-01-01` and
 * `2024-12-31` give `2024-07-16`, `user-0001` and `user-1000` give `user-0556`, `a` and `b`
 * give `am…`.
 */
export function textBetween(a: string, b: string): string {
  const left = Array.from(a, (c) => c.codePointAt(0) as number);
  const right = Array.from(b, (c) => c.codePointAt(0) as number);
  let common = 0;
  while (common < left.length && left[common] === right[common]) common++;
  const tails = [left.slice(common), right.slice(common)];
  const all = tails.flat();
  if (all.length === 0) return a;
  // The lowest character and the radix (characters + 1, for "ended") of each position; past
  // both strings, every character they hold, so that "a" and "b" give "am".
  const alphabets = Array.from({ length: TEXT_DIGITS }, (_, i) => {
    const here = tails.flatMap((t) => (i < t.length ? [t[i] as number] : []));
    const points = here.length > 0 ? here : all;
    const lowest = classStart(Math.min(...points));
    return { lowest, radix: BigInt(classEnd(Math.max(...points)) - lowest + 2) };
  });
  const [x, y] = tails.map((tail) =>
    alphabets.reduce((n, { lowest, radix }, i) => {
      const point = tail[i];
      return n * radix + (point === undefined ? 0n : BigInt(point - lowest + 1));
    }, 0n),
  ) as [bigint, bigint];
  let middle = (x + y) / 2n;
  const digits: number[] = [];
  for (let i = TEXT_DIGITS - 1; i >= 0; i--) {
    const { radix } = alphabets[i] as { radix: bigint };
    digits.unshift(Number(middle % radix));
    middle /= radix;
  }
  const end = digits.indexOf(0);
  const tail = (end < 0 ? digits : digits.slice(0, end)).map(
    (d, i) => d - 1 + (alphabets[i] as { lowest: number }).lowest,
  );
  return String.fromCodePoint(...left.slice(0, common), ...tail);
}

/** Where the class of a character (digits, capitals, small letters) starts. */
function classStart(point: number): number {
  for (const [from, to] of CLASSES) if (point >= from && point <= to) return from;
  return point;
}

/** Where the class of a character ends. */
function classEnd(point: number): number {
  for (const [from, to] of CLASSES) if (point >= from && point <= to) return to;
  return point;
}
