import { stat } from "node:fs/promises";
import { z } from "zod";
import { describeValue, InvalidOptionError, WaymarkError } from "../core/errors.js";
import { fn, parseOptions } from "../core/validate.js";
import { type Decoder, decoderOf } from "./decode.js";
import { type CsvOptions, csvRecords, csvRecordsStart } from "./file-csv.js";
import { ndjsonRecords } from "./file-ndjson.js";
import { fileSplitPoint, recordRules } from "./file-split.js";
import { openChunks } from "./file-stream.js";
import { flatten, mapPage } from "./flatten.js";
import { forPartition, type PerPartition, type Source, type SourceArgs } from "./source.js";

/**
 * One record of a file: its value and the bytes it occupies, `[start, end)`. Its id (the
 * cursor) is `end`, the offset of the next record, so a resume seeks straight there.
 */
export interface FileRecord<T> {
  readonly value: T;
  /** The byte offset where the record starts. */
  readonly start: number;
  /** The byte offset where the next record starts: the record's id. */
  readonly end: number;
}

/** Options of {@link fromFile}. */
export interface FileOptions<T> {
  /**
   * How records are written. A `.tsv` name is CSV with a tab delimiter (unless `csv` sets one).
   * @default "csv" for a .csv or .tsv name (before any .gz), else "ndjson"
   */
  format?: "ndjson" | "csv";
  /**
   * Whether the file is gzip-compressed. A gzip file cannot seek: a resume decompresses and
   * drops everything before the cursor. @default true for a name ending in .gz
   */
  gzip?: boolean;
  /** csv-parse options for CSV: delimiter, quote, columns, cast, … */
  csv?: CsvOptions;
  /** Turns a parsed record into the entity's value: a function or a zod schema. */
  // biome-ignore lint/suspicious/noExplicitAny: a decoder of parsed JSON or CSV takes anything.
  decode?: Decoder<any, T>;
}

const optionsSchema = z.strictObject({
  format: z.enum(["ndjson", "csv"], { error: 'expected "ndjson" or "csv"' }).optional(),
  gzip: z.boolean({ error: "expected true or false" }).optional(),
  csv: csvSchema().optional(),
  decode: z.unknown().optional(),
});

/** The csv-parse options {@link CsvOptions} passes on, checked before any file is read. */
function csvSchema() {
  const text = (example: string) =>
    z.union([z.string().min(1), z.instanceof(Buffer)], {
      error: `expected a non-empty string, e.g. ${example}`,
    });
  const flag = z.boolean({ error: "expected true or false" }).optional();
  const flagOrFunction = z
    .union([z.boolean(), fn("")], { error: "expected true, false or a function" })
    .optional();
  return z.strictObject(
    {
      delimiter: z
        .union([text('";"'), z.array(text('";"')).min(1)], {
          error: 'expected a non-empty string or an array of them, e.g. ";" or "\\t"',
        })
        .optional(),
      quote: z.union([text("'\"'"), z.boolean(), z.null()]).optional(),
      escape: z.union([text("'\"'"), z.boolean(), z.null()]).optional(),
      comment: text('"#"').optional(),
      relax_quotes: flag,
      relax_column_count: flag,
      skip_empty_lines: flag,
      trim: flag,
      ltrim: flag,
      rtrim: flag,
      cast: flagOrFunction,
      cast_date: flagOrFunction,
      columns: z
        .union([z.boolean(), z.array(z.string())], {
          error: 'expected true, false or an array of column names, e.g. ["id", "name"]',
        })
        .optional(),
    },
    { error: 'expected csv-parse options, e.g. { delimiter: ";" }' },
  );
}

/**
 * A source of the records of a newline-delimited JSON or CSV file, streamed (memory holds a
 * chunk, whatever the file's size). Each entity is a {@link FileRecord}; the cursor is the
 * byte offset of the next record, so a resume at line 900,000 seeks there instead of reading
 * what came before. The file's size and mtime are its fingerprint: a file changed since the
 * checkpoint is input drift, handled as the processor's `onDrift` says.
 *
 * @example
 * defineProcessor({
 *   name: "import-customers",
 *   ...fromFile(({ partition }) => `exports/customers-${partition}.ndjson`, { decode: Customer }),
 *   async processBatch(records, ctx) { for (const { value } of records) … },
 * });
 */
export function fromFile<T = unknown>(
  path: PerPartition<string>,
  options: FileOptions<T> = {},
): Source<FileRecord<T>, number> {
  if (typeof path !== "function" && (typeof path !== "string" || path === "")) {
    throw new InvalidOptionError(
      "path",
      `fromFile expects a file path or a function ({ partition }) => path, got ${describeValue(path)}.`,
    );
  }
  parseOptions(optionsSchema, options, "fromFile");
  const decode = decoderOf(options.decode, "fromFile");
  const pathOf = async (partition: string) => {
    const resolved = await forPartition(path, partition);
    if (typeof resolved !== "string" || resolved === "") {
      throw new InvalidOptionError(
        "path",
        `fromFile's path function returned ${describeValue(resolved)} for partition ${JSON.stringify(partition)}; return a file path.`,
      );
    }
    return resolved;
  };

  async function* chunks({ partition, after, shard }: SourceArgs): AsyncGenerator<FileRecord<T>[]> {
    const file = await pathOf(partition);
    const where = `fromFile(${file})`;
    const { gzip, csv, csvOptions } = layoutOf(file, options);
    const from = typeof after === "number" ? after : 0;
    const to = typeof shard?.to === "number" ? shard.to : Number.POSITIVE_INFINITY;
    const raw = csv
      ? csvRecords(file, from, gzip, csvOptions, where)
      : ndjsonRecords(openChunks(file, from, gzip), where);
    try {
      for await (const page of raw) {
        // A shard ends at the record that ends at its `to`: stop reading there.
        const past = (page.at(-1)?.end ?? 0) > to;
        const records = past ? page.filter((record) => record.end <= to) : page;
        if (options.decode === undefined) yield records as FileRecord<T>[];
        else {
          yield* mapPage(records, ({ value, start, end }) => ({
            value: decode(value, () => `the record at byte ${start}`),
            start,
            end,
          }));
        }
        if (past) return;
      }
    } catch (error) {
      throw readFailed(error, where);
    }
  }

  return {
    entities: (args) => flatten(chunks(args)),
    id: (record) => record.end,
    async fingerprint({ partition }) {
      const file = await pathOf(partition);
      try {
        const { size, mtimeMs } = await stat(file);
        return `size=${size} mtime=${new Date(mtimeMs).toISOString()}`;
      } catch (error) {
        throw readFailed(error, `fromFile(${file})`);
      }
    },
    async split({ partition, after, to, minimum, signal }) {
      const file = await pathOf(partition);
      const { gzip, csv, csvOptions } = layoutOf(file, options);
      // A gzip file cannot seek: a second half would decompress the first one again.
      if (gzip) return null;
      try {
        const start =
          typeof after === "number" ? after : csv ? await csvRecordsStart(file, csvOptions) : 0;
        const rules = recordRules(csv, csvOptions);
        return await fileSplitPoint(file, rules, start, { to, minimum, signal });
      } catch (error) {
        throw readFailed(error, `fromFile(${file})`);
      }
    },
  };
}

/** How a file is read, from its options and, where they are silent, its name. */
function layoutOf(file: string, options: FileOptions<unknown>) {
  const gzip = options.gzip ?? /\.gz$/i.test(file);
  const csv = (options.format ?? (/\.(csv|tsv)(\.gz)?$/i.test(file) ? "csv" : "ndjson")) === "csv";
  // A .tsv name means tab-separated unless the csv options say otherwise.
  const tsv = /\.tsv(\.gz)?$/i.test(file) ? { delimiter: "\t" } : {};
  return { gzip, csv, csvOptions: { ...tsv, ...options.csv } as CsvOptions };
}

/** A file that cannot be read (missing, a directory, no permission) fails the source. */
function readFailed(error: unknown, where: string): unknown {
  if (error instanceof WaymarkError || !(error instanceof Error)) return error;
  return new WaymarkError("SOURCE_FAILED", `${where}: cannot read the file: ${error.message}`, {
    cause: error,
  });
}
