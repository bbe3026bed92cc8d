import { describeValue, WaymarkError } from "../core/errors.js";

/** One value of a key column as it goes into a cursor. */
export type KeyValue = string | number;

/**
 * How a key column's values become cursor values: `integer` (PostgreSQL's int8 arrives as a
 * string), `text`, `uuid` (text, told apart so that a split point is a uuid), `date` (a `Date`
 * becomes `YYYY-MM-DD`) or `auto` (SQLite: by the value).
 */
export type KeyKind = "integer" | "text" | "uuid" | "date" | "auto";

// Below every character a key component may hold, so that a shorter component sorts first.
const SEPARATOR = "\u001f";
const NUMBER = "n";
const STRING = "s";
const NEGATIVE_OFFSET = Number.MAX_SAFE_INTEGER + 1;
const DIGITS = 16;

/**
 * Encodes the values of a composite key as one string cursor that compares (as JavaScript
 * compares strings) in the key's order: integers are written at a fixed width, strings as
 * they are, each behind a type tag, joined by U+001F. Use it for a shard's `from`/`to` on a
 * composite key. Integers must be safe; strings must not hold control characters.
 *
 * @example
 * keyCursor("2024-01-15", 42); // "s2024-01-15\u001fn0000000000000042"
 */
export function keyCursor(...values: KeyValue[]): string {
  return values.map(encodeComponent).join(SEPARATOR);
}

/** The values of a composite key cursor made by {@link keyCursor}. */
export function parseKeyCursor(cursor: string): KeyValue[] {
  return cursor.split(SEPARATOR).map((part) => {
    const body = part.slice(1);
    if (part[0] === STRING) return body;
    if (part[0] === NUMBER && /^-?\d{16}$/.test(body)) {
      return body[0] === "-" ? Number(body.slice(1)) - NEGATIVE_OFFSET : Number(body);
    }
    throw new WaymarkError(
      "CORRUPT_CHECKPOINT",
      `The cursor ${JSON.stringify(cursor)} is not a composite key cursor; it was written by ` +
        "another processor version or another source. Reset the checkpoint, or bump the version.",
    );
  });
}

function encodeComponent(value: KeyValue): string {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) {
      throw new WaymarkError(
        "INVALID_ENTITY",
        `A composite key holds ${describeValue(value)}; its number columns must hold safe ` +
          "integers. Key on an integer or text column instead.",
      );
    }
    const digits = String(value < 0 ? value + NEGATIVE_OFFSET : value).padStart(DIGITS, "0");
    return `${NUMBER}${value < 0 ? "-" : ""}${digits}`;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
  if (/[\u0000-\u001f]/.test(value)) {
    throw new WaymarkError(
      "INVALID_ENTITY",
      `A composite key holds ${describeValue(value)}, which contains a control character; ` +
        "composite key cursors cannot order it. Key on columns without control characters.",
    );
  }
  return `${STRING}${value}`;
}

/**
 * Turns a key column's value into a cursor value, or throws an `INVALID_ENTITY` error that
 * names the column: NULL and values no cursor can order are refused.
 */
export function keyValue(value: unknown, kind: KeyKind, column: string, where: string): KeyValue {
  // Only integers JavaScript holds exactly: a REAL, or a SQLite INTEGER past 2^53 that the
  // driver already rounded, would give a cursor that names another row than the one read.
  if (typeof value === "number" && (kind === "integer" || kind === "auto")) {
    if (Number.isSafeInteger(value)) return value;
    throw new WaymarkError(
      "INVALID_ENTITY",
      `${where}: key column "${column}" holds ${describeValue(value)}, which is not an ` +
        "integer JavaScript holds exactly (from -(2^53 - 1) to 2^53 - 1) and cannot be a " +
        "cursor. Key on integer (up to 2^53), text, uuid or date columns.",
    );
  }
  if (typeof value === "string") {
    if (kind !== "integer") return value;
    const n = Number(value);
    if (Number.isSafeInteger(n) && String(n) === value) return n;
  }
  if (typeof value === "bigint" && Number.isSafeInteger(Number(value))) return Number(value);
  if (value instanceof Date && kind !== "integer") return localDay(value);
  if (value === null || value === undefined) {
    throw new WaymarkError(
      "INVALID_ENTITY",
      `${where}: a row has NULL in key column "${column}"; keyset pages cannot order NULLs and ` +
        `would skip the row. Make "${column}" NOT NULL, or filter the rows out with ` +
        `where: sql\`"${column}" IS NOT NULL\`.`,
    );
  }
  throw new WaymarkError(
    "INVALID_ENTITY",
    `${where}: key column "${column}" holds ${describeValue(value)}, which cannot be a cursor. ` +
      "Key on integer (up to 2^53), text, uuid or date columns.",
  );
}

/** `YYYY-MM-DD` of a date as node-postgres parses a `date` column: local midnight. */
function localDay(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}
