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
 * chunk at a time. Works on bytes, so that the offsets are exact whatever the text's
 * encoding; blank lines are passed over.
 */
export async function* ndjsonRecords(
  chunks: FileChunks,
  where: string,
): AsyncGenerator<RawRecord[]> {
  let offset = chunks.start; // the file offset of buffer[0]
  let rest: Buffer | null = null;
  for await (const chunk of chunks.stream) {
    const buffer: Buffer = rest ? Buffer.concat([rest, chunk]) : chunk;
    const records: RawRecord[] = [];
    let position = 0;
    try {
      for (let newline = buffer.indexOf(NEWLINE); newline !== -1; ) {
        const record = parseLine(buffer, position, newline, newline + 1, offset, where);
        if (record) records.push(record);
        position = newline + 1;
        newline = buffer.indexOf(NEWLINE, position);
      }
    } catch (error) {
      // The lines before a bad one are good: hand them over, then stop at it.
      if (records.length > 0) yield records;
      throw error;
    }
    rest = position < buffer.length ? buffer.subarray(position) : null;
    offset += position;
    yield records;
  }
  // A last line without a newline is a record too.
  const last = rest && parseLine(rest, 0, rest.length, rest.length, offset, where);
  if (last) yield [last];
}

/** The record in `buffer[from, to)`, whose successor starts at `next`; null for a blank line. */
function parseLine(
  buffer: Buffer,
  from: number,
  to: number,
  next: number,
  offset: number,
  where: string,
): RawRecord | null {
  const start = offset + from;
  // A byte order mark opens some files written on Windows; JSON.parse rejects it.
  const skip = start === 0 && buffer[from] === 0xef && buffer[from + 1] === 0xbb ? 3 : 0;
  const text = buffer.toString("utf8", from + skip, to);
  try {
    return { value: JSON.parse(text), start, end: offset + next };
  } catch (error) {
    if (text.trim() === "") return null;
    const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
    throw new WaymarkError(
      "INVALID_ENTITY",
      `${where}: the line at byte ${start} is not JSON (${(error as Error).message}): ${shown}. ` +
        "Fix or remove the line; the run resumes at it, after its last checkpoint.",
      { cause: error },
    );
  }
}
