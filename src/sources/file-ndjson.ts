import { WaymarkError } from "../core/errors.js";
import type { FileChunks } from "./file-stream.js";

/** One record of a file: its parsed value and the bytes it occupies, `[start, end)`. */
export interface RawRecord {
  readonly value: unknown;
  readonly start: number;
  readonly end: number;
}

const NEWLINE = 0x0a;

/**
 * Splits newline-delimited JSON into records with their byte offsets, the records of one
 * chunk at a time. Offsets are exact whatever the text's encoding; blank lines are passed
 * over.
 */
export async function* ndjsonRecords(
  chunks: FileChunks,
  where: string,
): AsyncGenerator<RawRecord[]> {
  let offset = chunks.start; // the file offset of buffer[0]
  let rest: Buffer | null = null;
  for await (const chunk of chunks.stream) {
    const buffer: Buffer = rest ? Buffer.concat([rest, chunk]) : chunk;
    const whole = buffer.lastIndexOf(NEWLINE) + 1; // the bytes of the chunk's complete lines
    const records: RawRecord[] = [];
    try {
      if (whole > 0) {
        // One decode for the chunk's lines. When every byte became one UTF-16 unit (ASCII,
        // the usual case) string positions are byte offsets; otherwise each line is decoded
        // from its bytes, which is exact for any encoding but costs a native call per line.
        const text = buffer.toString("utf8", 0, whole);
        if (text.length === whole) textLines(text, offset, where, records);
        else byteLines(buffer, offset, where, records);
      }
    } catch (error) {
      // The lines before a bad one are good: hand them over, then stop at it.
      if (records.length > 0) yield records;
      throw error;
    }
    rest = whole < buffer.length ? buffer.subarray(whole) : null;
    offset += whole;
    yield records;
  }
  // A last line without a newline is a record too.
  if (rest) {
    const records: RawRecord[] = [];
    pushLine(rest, 0, rest.length, rest.length, offset, where, records);
    if (records.length > 0) yield records;
  }
}

/** What {@link parseLine} returns for a blank line, which is no record. */
const BLANK: unique symbol = Symbol("blank line");

/** The records of `text`, every unit of which is one byte, from file offset `offset`. */
function textLines(text: string, offset: number, where: string, records: RawRecord[]): void {
  let position = 0;
  for (let newline = text.indexOf("\n"); newline !== -1; newline = text.indexOf("\n", position)) {
    const start = offset + position;
    const value = parseLine(text.slice(position, newline), start, where);
    if (value !== BLANK) records.push({ value, start, end: offset + newline + 1 });
    position = newline + 1;
  }
}

/** The records of the complete lines in `buffer`, each decoded from its own bytes. */
function byteLines(buffer: Buffer, offset: number, where: string, records: RawRecord[]): void {
  let position = 0;
  for (
    let newline = buffer.indexOf(NEWLINE);
    newline !== -1;
    newline = buffer.indexOf(NEWLINE, position)
  ) {
    pushLine(buffer, position, newline, newline + 1, offset, where, records);
    position = newline + 1;
  }
}

/** The record in `buffer[from, to)`, whose successor starts at `next`, unless it is blank. */
function pushLine(
  buffer: Buffer,
  from: number,
  to: number,
  next: number,
  offset: number,
  where: string,
  records: RawRecord[],
): void {
  const start = offset + from;
  // A byte order mark opens some files written on Windows; JSON.parse rejects it.
  const skip = start === 0 && buffer[from] === 0xef && buffer[from + 1] === 0xbb ? 3 : 0;
  const value = parseLine(buffer.toString("utf8", from + skip, to), start, where);
  if (value !== BLANK) records.push({ value, start, end: offset + next });
}

/** The value of the line that starts at byte `start`, or {@link BLANK}. */
function parseLine(text: string, start: number, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    if (text.trim() === "") return BLANK;
    const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
    throw new WaymarkError(
      "INVALID_ENTITY",
      `${where}: the line at byte ${start} is not JSON (${(error as Error).message}): ${shown}. ` +
        "Fix or remove the line; the run resumes at it, after its last checkpoint.",
      { cause: error },
    );
  }
}
