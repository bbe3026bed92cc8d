import { type FileHandle, open } from "node:fs/promises";
import type { SplitArgs } from "../core/shard-types.js";
import type { CsvOptions } from "./file-csv.js";

const LF = 0x0a;
const CR = 0x0d;
const WINDOW = 64 * 1024;
// How far past the middle a CSV boundary is looked for before the rest is scanned from the
// holder's position, where the quoting state is known.
const NEAR = 1024 * 1024;

/** How a file's records are written, as far as finding a boundary between two goes. */
export interface RecordRules {
  /**
   * The quote byte of a CSV file, null where newlines never sit inside a record (NDJSON,
   * CSV without quoting); undefined when the CSV options leave a boundary uncertain.
   */
  readonly quote: number | null | undefined;
  /** CSV: a lone CR may end a record, and a CRLF file holds LFs as data. */
  readonly csv: boolean;
  /** Bytes that may follow a closing quote (delimiters, line ends, spaces): 1 each. */
  readonly closing: Uint8Array;
}

/** The record rules of an NDJSON file, or of a CSV file read with `options`. */
export function recordRules(csv: boolean, options: CsvOptions): RecordRules {
  const closing = new Uint8Array(256);
  for (const byte of [LF, CR, 0x20, 0x09, 0x0b, 0x0c]) closing[byte] = 1;
  if (!csv) return { quote: null, csv, closing };
  const quote = singleByte(
    options.quote === undefined || options.quote === true ? '"' : options.quote,
  );
  // biome-ignore lint/suspicious/noShadowRestrictedNames: csv-parse's name for the option.
  const escape = options.escape === undefined || options.escape === true ? '"' : options.escape;
  // Each quote flips the quoting state only when an escaped quote is a doubled one; a comment
  // line may hold quotes, and relaxed quotes may sit inside an unquoted field.
  const certain =
    quote === null ||
    (quote !== undefined &&
      (escape === null || escape === false || singleByte(escape) === quote) &&
      !options.comment &&
      !options.relax_quotes);
  for (const delimiter of [options.delimiter ?? ","].flat()) {
    const first = Buffer.from(delimiter)[0];
    if (first !== undefined) closing[first] = 1;
  }
  // rtrim lets any Unicode space follow a closing quote; their UTF-8 bytes are all >= 0x80.
  if (options.trim || options.rtrim) closing.fill(1, 0x80);
  return { quote: certain ? quote : undefined, csv, closing };
}

/** The byte of a one-byte quote or escape, null for none, undefined for a longer one. */
function singleByte(
  value: string | Buffer | boolean | null | undefined,
): number | null | undefined {
  if (value === null || value === false || value === "") return null;
  if (typeof value !== "string" && !Buffer.isBuffer(value)) return undefined;
  const bytes = Buffer.from(value);
  return bytes.length === 1 ? bytes[0] : undefined;
}

/**
 * A byte offset near the middle of the bytes from `start` (where a record starts: the holder's
 * position, or the first record) up to `to` (or the end of the file) where a record starts:
 * the holder keeps the records before it, a new shard reads from it. Null when the rest is about fewer than `2 * minimum` records (estimated from
 * the line lengths around the middle), or when no boundary can be told for certain.
 *
 * An LF is a boundary in NDJSON. In CSV, it is one when it is outside quotes: the quoting
 * state is known after a run of quotes followed by a byte that cannot follow a closing quote
 * (inside a quoted field, in any valid file), so the bytes past the middle usually settle it;
 * otherwise they are scanned from `start`, counting quotes.
 */
export async function fileSplitPoint(
  file: string,
  rules: RecordRules,
  start: number,
  { to, minimum, signal }: Pick<SplitArgs, "to" | "minimum" | "signal">,
): Promise<number | null> {
  if (rules.quote === undefined) return null;
  const handle = await open(file, "r");
  try {
    const { size } = await handle.stat();
    const end = typeof to === "number" ? Math.min(to, size) : size;
    if (end - start < 2) return null;
    const middle = start + Math.floor((end - start) / 2);
    const sample = await readAt(handle, middle, Math.min(WINDOW, end - middle));
    let lines = 0;
    for (let i = sample.indexOf(LF); i !== -1; i = sample.indexOf(LF, i + 1)) lines++;
    const records = ((end - start) * Math.max(lines, 1)) / Math.max(sample.length, 1);
    if (records < 2 * Math.max(1, minimum)) return null;
    // A CSV parser takes the first line end it meets outside quotes for every record; a file
    // whose lines end in a lone CR is not split.
    const style = rules.csv ? await lineEndOf(handle, rules, signal) : "lf";
    if (style === null) return null;
    const boundary = (at: number, byte: number, previous: number) =>
      byte === LF && at + 1 >= middle && (style === "lf" || previous === CR) ? at + 1 : undefined;
    const scan = (from: number, state: QuoteState, limit: number) =>
      scanOutside(handle, rules, { from, state, limit, signal, skipBefore: middle }, boundary);
    // From the byte before the middle, so that a record starting at the middle is found.
    let found = await scan(
      middle - 1,
      rules.quote === null ? "outside" : "unknown",
      Math.min(end, middle + NEAR),
    );
    if (found === null && rules.quote !== null) found = await scan(start, "outside", end);
    return found !== null && found < end ? found : null;
  } finally {
    await handle.close();
  }
}

/** How the file's first record ends, outside quotes: LF, CRLF, or null (a lone CR, none). */
async function lineEndOf(
  handle: FileHandle,
  rules: RecordRules,
  signal: AbortSignal,
): Promise<"lf" | "crlf" | null> {
  let style: "lf" | "crlf" | null = null;
  await scanOutside(
    handle,
    rules,
    { from: 0, state: "outside", limit: NEAR, signal },
    (at, byte, previous) => {
      if (byte === CR) return undefined; // its next byte tells
      style = previous === CR ? "crlf" : "lf";
      return at;
    },
    true,
  );
  return style;
}

type QuoteState = "unknown" | "inside" | "outside";

interface Scan {
  readonly from: number;
  readonly state: QuoteState;
  readonly limit: number;
  readonly signal: AbortSignal;
  /** Line ends before this offset matter to nobody: a chunk before it without quotes is passed over. */
  readonly skipBefore?: number;
}

/**
 * Reads from `from` in the quoting state `state`, and hands every LF or CR met outside quotes
 * to `decide`, with the byte before it, until `decide` gives an offset; null when none comes
 * before `limit`, the read is aborted, or (with `loneCr`) a CR not followed by LF is met.
 * A run of quotes followed by a byte that no closing quote may be followed by leaves an
 * unknown state inside a quoted field, as it does in every valid file; from a known state,
 * each quote flips it (an escaped quote is a doubled one).
 */
async function scanOutside(
  handle: FileHandle,
  rules: RecordRules,
  scan: Scan,
  decide: (at: number, byte: number, previous: number) => number | undefined,
  loneCr = false,
): Promise<number | null> {
  const { quote, closing } = rules;
  let state = scan.state;
  let quotes = 0; // the length of the run of quotes just read
  let whole = false; // whether the run's first quote follows a byte that was read
  let previous = -1;
  for (let position = scan.from; position < scan.limit; ) {
    if (scan.signal.aborted) return null;
    const chunk = await readAt(handle, position, Math.min(WINDOW, scan.limit - position));
    if (chunk.length === 0) break;
    // Scanning from a record's start to the middle is a search for quotes: a chunk without
    // one leaves the state as it was, at the speed of indexOf.
    const next = position + chunk.length;
    if (next < (scan.skipBefore ?? 0) && state !== "unknown" && quotes === 0) {
      if (quote === null || quote === undefined || chunk.indexOf(quote) === -1) {
        previous = chunk[chunk.length - 1] as number;
        position = next;
        continue;
      }
    }
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i] as number;
      const at = position + i;
      if (byte === quote) {
        if (quotes === 0) whole = at > scan.from;
        quotes++;
        previous = byte;
        continue;
      }
      if (quotes > 0) {
        if (state === "unknown") state = whole && closing[byte] !== 1 ? "inside" : "unknown";
        else if (quotes % 2 === 1) state = state === "inside" ? "outside" : "inside";
        quotes = 0;
      }
      if (state === "outside") {
        if (loneCr && previous === CR && byte !== LF) return null;
        if (byte === LF || byte === CR) {
          const found = decide(at, byte, previous);
          if (found !== undefined) return found;
        }
      }
      previous = byte;
    }
    position += chunk.length;
  }
  return null;
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  return buffer.subarray(0, bytesRead);
}
