import { Readable } from "node:stream";
import type { Options as CsvParseOptions, Parser } from "csv-parse";
import { WaymarkError } from "../core/errors.js";
import type { RawRecord } from "./file-ndjson.js";
import { openChunks } from "./file-stream.js";

/** The csv-parse options a file source passes on; those that move offsets stay its own. */
export type CsvOptions = Pick<
  CsvParseOptions,
  | "delimiter"
  | "quote"
  | "escape"
  | "comment"
  | "relax_quotes"
  | "relax_column_count"
  | "skip_empty_lines"
  | "trim"
  | "ltrim"
  | "rtrim"
  | "cast"
  | "cast_date"
> & {
  /**
   * `true` reads column names from the first line and gives objects; an array names the
   * columns of a file without a header; `false` gives arrays. @default true
   */
  columns?: boolean | string[];
};

type Parse = (options: CsvParseOptions) => Parser;

/**
 * Parses CSV with csv-parse, streaming, into records with their byte offsets (csv-parse
 * counts the bytes it consumed). A resume past the header reads the header's names first:
 * one small read at the file's start.
 */
export async function* csvRecords(
  path: string,
  after: number,
  gzip: boolean,
  options: CsvOptions,
  where: string,
): AsyncGenerator<RawRecord[]> {
  const { parse } = (await import("csv-parse")) as { parse: Parse };
  const { columns = true, ...rest } = options;
  // The header is read on its own, so that its names are known however far a resume seeks,
  // and the first record's offset is exact.
  const header = columns === true ? await readHeader(path, gzip, rest, parse) : null;
  const from = Math.max(after, header?.end ?? 0);
  // Records are taken as csv-parse reads them (on_record) rather than from its readable
  // side: a bad record fails the chunk's whole write, and the stream would drop the good
  // records before it, which the run must commit first.
  let parsed: RawRecord[] = [];
  let start = from;
  const parser = parse({
    skip_empty_lines: true,
    ...rest,
    columns: header ? header.names : columns,
    bom: from === 0,
    on_record: (record: unknown, info: { bytes: number }) => {
      const end = from + info.bytes;
      parsed.push({ value: record, start, end });
      start = end;
      return null;
    },
  });
  // Every error also reaches the write's callback; this keeps it from being unhandled.
  parser.on("error", () => {});
  const take = () => {
    const taken = parsed;
    parsed = [];
    return taken;
  };
  try {
    for await (const chunk of openChunks(path, from, gzip).stream) {
      await settle((done) => parser.write(chunk, done));
      // Hand over what one chunk of input gave.
      if (parsed.length > 0) yield take();
    }
    await settle((done) => parser.end(done));
    if (parsed.length > 0) yield take();
  } catch (error) {
    if (parsed.length > 0) yield take();
    throw asInvalid(error, where, from);
  } finally {
    parser.destroy();
  }
}

/** Where the records of a plain CSV file start: after its header line when `columns` is true. */
export async function csvRecordsStart(path: string, options: CsvOptions): Promise<number> {
  const { columns = true, ...rest } = options;
  if (columns !== true) return 0;
  const { parse } = (await import("csv-parse")) as { parse: Parse };
  return (await readHeader(path, false, rest, parse)).end;
}

/** Resolves when `write` calls back, rejects with the error it calls back with. */
function settle(write: (done: (error?: Error | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => write((error) => (error ? reject(error) : resolve())));
}

/** The column names on the file's first line, and the offset where the records start. */
async function readHeader(
  path: string,
  gzip: boolean,
  options: Omit<CsvOptions, "columns">,
  parse: Parse,
): Promise<{ names: string[]; end: number }> {
  const parser = parse({ ...options, columns: false, bom: true, to: 1, info: true });
  const head = Readable.from(openChunks(path, 0, gzip).stream);
  head.pipe(parser);
  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: string[];
      info: { bytes: number };
    }>) {
      return { names: record, end: info.bytes };
    }
    return { names: [], end: 0 };
  } finally {
    head.destroy();
    parser.destroy();
  }
}

/** A csv-parse error (an unclosed quote, a short row) is a bad record, with its position. */
function asInvalid(error: unknown, where: string, readFrom: number): unknown {
  const { code, bytes } = (error ?? {}) as { code?: unknown; bytes?: unknown };
  if (typeof code !== "string" || !code.startsWith("CSV_")) return error;
  const at = typeof bytes === "number" ? ` near byte ${readFrom + bytes}` : "";
  return new WaymarkError(
    "INVALID_ENTITY",
    `${where}: a record${at} is not valid CSV (${(error as Error).message}). ` +
      "Fix the record, or relax the csv options; the run resumes at it.",
    { cause: error },
  );
}
