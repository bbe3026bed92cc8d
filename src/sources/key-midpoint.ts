import type { KeyKind, KeyValue } from "./key-cursor.js";

// Positions a text midpoint writes after the common prefix: enough to land between any two
// distinct keys, few enough that the guess stays a short string.
const TEXT_DIGITS = 12;
const DAY_MS = 86_400_000;
/** Characters that make up keys together: a digit stands for every digit, and so on. */
const CLASSES = ["0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"].map(
  (letters) => Array.from(letters, (c) => c.codePointAt(0) as number),
);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A key prefix about halfway between `low` and `high` in the key's own order, strictly below
 * `high` and not below `low`: the leading columns they share, then a value between theirs in
 * the first column where they differ. Null when no such guess is found (the probe then cuts at
 * `low`). It is a guess to seek from, not a row.
 */
export function keyBetween(
  low: readonly KeyValue[],
  high: readonly KeyValue[],
  kinds: readonly KeyKind[],
): KeyValue[] | null {
  const column = low.findIndex((value, i) => value !== high[i]);
  if (column < 0) return null;
  const a = low[column] as KeyValue;
  const b = high[column] as KeyValue;
  const middle = valueBetween(a, b, kinds[column] ?? "auto");
  // The probe bounds its seek by this guess alone, so it must lie in [low, high) as the
  // database orders keys: numbers as numbers, text by code point.
  return compareValues(a, middle) <= 0 && compareValues(middle, b) < 0
    ? [...low.slice(0, column), middle]
    : null;
}

function valueBetween(a: KeyValue, b: KeyValue, kind: KeyKind): KeyValue {
  if (typeof a === "number" && typeof b === "number") return a + Math.floor((b - a) / 2);
  if (typeof a !== "string" || typeof b !== "string") return a; // SQLite's mixed types
  if (kind === "date") return dayBetween(a, b);
  if (kind === "uuid") return uuidBetween(a, b);
  return textBetween(a, b);
}

/** Orders two key values as SQLite and PostgreSQL (`COLLATE "C"`) do: numbers first. */
export function compareValues(a: KeyValue, b: KeyValue): number {
  if (typeof a === "number" || typeof b === "number") {
    if (typeof a !== "number") return 1;
    if (typeof b !== "number") return -1;
    return a - b;
  }
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    // Where the UTF-16 units differ, the code points there decide (a surrogate pair is one).
    if (a.charCodeAt(i) !== b.charCodeAt(i)) {
      return (a.codePointAt(i) as number) - (b.codePointAt(i) as number);
    }
  }
  return a.length - b.length;
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
 * `BINARY`). After their common prefix, each position is a digit whose alphabet is the two
 * strings' characters there, each widened to its class (a digit to `0`-`9`, a letter to its
 * case's alphabet), with 0 for "the string has ended"; the two numbers are averaged and
 * written back. So `2024-01-01` and `2024-12-31` give `2024-07-16`, `user-0001` and
 * `user-1000` give `user-0556`, hex `1f…` and `e0…` give `7f…`, and `a` and `b` give `am…`.
 */
export function textBetween(a: string, b: string): string {
  const left = Array.from(a, (c) => c.codePointAt(0) as number);
  const right = Array.from(b, (c) => c.codePointAt(0) as number);
  let common = 0;
  while (common < left.length && left[common] === right[common]) common++;
  const tails = [left.slice(common), right.slice(common)];
  const all = tails.flat();
  if (all.length === 0) return a;
  // Past both strings, a position may hold any character either holds: "a", "b" give "am".
  const alphabets = Array.from({ length: TEXT_DIGITS }, (_, i) => {
    const here = tails.flatMap((t) => (i < t.length ? [t[i] as number] : []));
    return alphabetOf(here.length > 0 ? here : all);
  });
  const [x, y] = tails.map((tail) =>
    alphabets.reduce(
      (n, alphabet, i) =>
        n * BigInt(alphabet.length + 1) +
        BigInt(i < tail.length ? alphabet.indexOf(tail[i] as number) + 1 : 0),
      0n,
    ),
  ) as [bigint, bigint];
  let middle = (x + y) / 2n;
  const digits: number[] = [];
  for (let i = TEXT_DIGITS - 1; i >= 0; i--) {
    const radix = BigInt((alphabets[i] as number[]).length + 1);
    digits.unshift(Number(middle % radix));
    middle /= radix;
  }
  const end = digits.indexOf(0);
  const tail = (end < 0 ? digits : digits.slice(0, end)).map(
    (d, i) => (alphabets[i] as number[])[d - 1] as number,
  );
  return String.fromCodePoint(...left.slice(0, common), ...tail);
}

/** The characters a position may hold, in order: those given, each widened to its class. */
function alphabetOf(points: readonly number[]): number[] {
  const alphabet = new Set<number>();
  for (const point of points) {
    const members = CLASSES.find((members) => members.includes(point)) ?? [point];
    for (const member of members) alphabet.add(member);
  }
  return [...alphabet].sort((p, q) => p - q);
}
