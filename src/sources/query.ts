import { describeValue, InvalidOptionError, WaymarkError } from "../core/errors.js";
import { consoleLogger, silentLogger } from "../core/logger.js";
import type { SplitArgs } from "../core/shard-types.js";
import type { Cursor, Logger } from "../core/types.js";
import { parseOptions } from "../core/validate.js";
import { decoderOf } from "./decode.js";
import { flatten, mapPage } from "./flatten.js";
import { type KeyValue, keyCursor, keyValue, parseKeyCursor } from "./key-cursor.js";
import { type KeyColumn, type QueryDriver, quoteIdentifier, type Row } from "./query-driver.js";
import {
  type CursorOfKey,
  isSqlite,
  type KeyOption,
  optionsSchema,
  type QueryOptions,
} from "./query-options.js";
import { postgresDriver } from "./query-postgres.js";
import { splitPoint } from "./query-split.js";
import {
  compileFilter,
  compileWhere,
  countQuery,
  nullProbeQuery,
  pageQuery,
  type QueryShape,
} from "./query-sql.js";
import { sqliteDriver } from "./query-sqlite.js";
import type { Source, SourceArgs } from "./source.js";
import { asWhere, type CompiledSql } from "./sql.js";

/**
 * A source that reads a table in key order, a page at a time, by seeking to the key after
 * the cursor (`WHERE key > $1 ORDER BY key LIMIT 1000`): a resume at row 9,000,000 costs
 * what a start costs, and memory holds a page or two whatever the table's size. On
 * PostgreSQL the next page is fetched while the current batch is processed.
 *
 * Needs an index whose columns are the `where`'s equality columns then the key; on
 * PostgreSQL a missing one is reported once. Text keys are ordered by code unit
 * (`COLLATE "C"` on PostgreSQL, so index them with `COLLATE "C"` or use a "C" database).
 *
 * @example
 * defineProcessor({
 *   name: "player-summaries",
 *   ...fromQuery({ db: pool, table: "player_lines", key: "player_id",
 *     where: sql`game_date = ${sql.partition}`, count: true }),
 *   async processBatch(lines, ctx) { … },
 * });
 */
export function fromQuery<E extends object = Row, const K extends KeyOption<E> = KeyOption<E>>(
  options: QueryOptions<E, K>,
): Source<E, CursorOfKey<E, K>> {
  parseOptions(optionsSchema, options, "fromQuery");
  if (options.where !== undefined && typeof options.where !== "function") {
    asWhere(options.where, "where");
  }
  const reader = new QueryReader<E>(options as QueryOptions<E, KeyOption<E>>);
  const source: Source<E, Cursor> = {
    entities: (args) => flatten(reader.pages(args)),
    id: reader.id,
    split: (args) => reader.split(args),
  };
  if (options.count) source.count = (args) => reader.count(args);
  return source as Source<E, CursorOfKey<E, K>>;
}

/** The state one `fromQuery` source keeps across runs: the key's columns, the index check. */
class QueryReader<E> {
  readonly #driver: QueryDriver;
  readonly #options: QueryOptions<E, KeyOption<E>>;
  readonly #where: string;
  readonly #keyNames: readonly string[];
  readonly #decode: (row: Row, describe: () => string) => E;
  readonly #logger: Logger;
  #key: KeyColumn[];
  #described: Promise<QueryShape> | null = null;
  #indexChecked: boolean;

  constructor(options: QueryOptions<E, KeyOption<E>>) {
    this.#options = options;
    this.#driver = isSqlite(options.db) ? sqliteDriver(options.db) : postgresDriver(options.db);
    this.#where = `fromQuery(${options.table})`;
    this.#keyNames = typeof options.key === "string" ? [options.key] : [...options.key];
    this.#decode = decoderOf(options.decode, "fromQuery");
    this.#logger = options.logger === false ? silentLogger : (options.logger ?? consoleLogger);
    this.#indexChecked = options.checkIndex === false;
    // Until the table is described, values are read by their JavaScript type.
    this.#key = this.#keyNames.map((name) => ({
      name,
      sql: quoteIdentifier(name),
      kind: "auto",
      nullable: true,
    }));
  }

  /** The entity's id: its key value, or the encoded cursor of a composite key. */
  readonly id = (entity: E): Cursor => {
    const key = this.#key;
    if (key.length === 1) return this.#keyValue(entity, key[0] as KeyColumn);
    return keyCursor(...key.map((column) => this.#keyValue(entity, column)));
  };

  /** The partition's rows as entities, a page at a time. */
  async *pages(args: SourceArgs): AsyncGenerator<E[]> {
    const shape = await this.#shape();
    const where = await this.#compileWhere(args.partition, shape);
    const to = args.shard?.to === undefined ? null : this.#keyOf(args.shard.to);
    const probe = this.#probeNulls(shape, where, to);
    let after = args.after === null ? null : this.#keyOf(args.after);
    const fetch = (from: readonly KeyValue[] | null) => {
      const filter = compileFilter(shape, where, { after: from, to });
      return this.#all(pageQuery(shape, filter), filter.values, "page");
    };
    this.#checkIndex(shape, where, after, to);
    // Rows of a NOT NULL key with no decoder are the entities as they come: a page is handed
    // over as is, with no copy and no per-row work.
    const asIs = this.#options.decode === undefined && shape.key.every((k) => !k.nullable);
    let pending: Promise<Row[]> | null = fetch(after);
    try {
      while (pending) {
        const rows: Row[] = await pending;
        pending = null;
        const last = rows.at(-1);
        if (last && rows.length === shape.pageSize) {
          after = this.#rowKey(last);
          pending = this.#driver.readAhead ? fetch(after) : null;
        }
        if (asIs) yield rows as unknown as E[];
        else
          yield* mapPage(rows, (row) => {
            for (const column of this.#key) {
              if (row[column.name] === null || row[column.name] === undefined) {
                keyValue(null, column.kind, column.name, this.#where); // throws the NULL error
              }
            }
            return this.#decode(row, () => `the row with key ${JSON.stringify(this.#rowKey(row))}`);
          });
        if (probe.found) throw probe.error();
        if (rows.length === shape.pageSize && !pending) pending = fetch(after);
      }
      if (await probe.done) throw probe.error();
    } finally {
      // A read stopped early may leave a read-ahead in flight; its outcome no longer matters.
      pending?.catch(() => {});
    }
  }

  async count(args: { readonly partition: string; readonly shard?: SourceArgs["shard"] }) {
    const shape = await this.#shape();
    const where = await this.#compileWhere(args.partition, shape);
    const filter = compileFilter(shape, where, {
      after: args.shard?.from === undefined ? null : this.#keyOf(args.shard.from),
      to: args.shard?.to === undefined ? null : this.#keyOf(args.shard.to),
    });
    const [row] = await this.#all(countQuery(shape, filter), filter.values, "count");
    return Number(row?.n ?? 0);
  }

  /** A key near the middle of the range's rest, found by index seeks (see {@link splitPoint}). */
  async split(args: SplitArgs): Promise<Cursor | null> {
    const shape = await this.#shape();
    const where = await this.#compileWhere(args.partition, shape);
    const keyAt = async (text: string, values: readonly unknown[]) => {
      const [row] = await this.#all(text, values, "split");
      return row ? this.#rowKey(row) : null;
    };
    return splitPoint({ shape, where, keyAt, keyOf: (cursor) => this.#keyOf(cursor) }, args);
  }

  /** Learns the key's column types once, and builds the parts every statement shares. */
  #shape(): Promise<QueryShape> {
    this.#described ??= this.#driver.describeKey(this.#options.table, this.#keyNames).then(
      (key) => {
        this.#key = key;
        const columns = this.#options.columns;
        const select = columns
          ? [...columns, ...this.#keyNames.filter((k) => !columns.includes(k))]
              .map(quoteIdentifier)
              .join(", ")
          : "*";
        return {
          select: `SELECT ${select}`,
          from: quoteIdentifier(this.#options.table),
          key,
          pageSize: this.#options.pageSize ?? 1000,
          placeholder: this.#driver.placeholder,
        };
      },
      (error: unknown) => {
        this.#described = null; // a later run may find the table
        throw this.#failed(error, "describe the key");
      },
    );
    return this.#described;
  }

  async #compileWhere(partition: string, shape: QueryShape): Promise<CompiledSql> {
    const option = this.#options.where;
    const where =
      typeof option === "function" ? asWhere(await option({ partition }), "where") : option;
    return compileWhere(shape, where ?? null, partition);
  }

  /**
   * Starts a look for rows whose key is NULL: keyset pages never return them, so without
   * it they would be skipped in silence. It runs beside the pages and is checked between them.
   */
  #probeNulls(shape: QueryShape, where: CompiledSql, to: readonly KeyValue[] | null) {
    const filter = compileFilter(shape, where, { to });
    const text = nullProbeQuery(shape, filter);
    const probe = {
      found: false,
      done: Promise.resolve(false),
      error: () => {
        const columns = shape.key.filter((k) => k.nullable).map((k) => `"${k.name}"`);
        return new WaymarkError(
          "INVALID_ENTITY",
          `${this.#where}: some rows have NULL in key column ${columns.join(" or ")}; keyset ` +
            "pages cannot order NULLs and would skip them. Make the key NOT NULL, or filter " +
            `them out with where: sql\`${columns[0]} IS NOT NULL\`.`,
        );
      },
    };
    if (text) {
      probe.done = this.#all(text, filter.values, "NULL check").then((rows) => {
        probe.found = rows.length > 0;
        return probe.found;
      });
      probe.done.catch(() => {}); // awaited at the end of the read; never unhandled before
    }
    return probe;
  }

  /** Once per source, in the background: warns when no index serves the page query. */
  #checkIndex(
    shape: QueryShape,
    where: CompiledSql,
    after: readonly KeyValue[] | null,
    to: readonly KeyValue[] | null,
  ): void {
    if (this.#indexChecked) return;
    this.#indexChecked = true;
    const filter = compileFilter(shape, where, { after, to });
    this.#driver
      .missingIndex(pageQuery(shape, filter), filter.values, shape.pageSize)
      .then(
        (problem) => {
          if (!problem) return;
          const order = shape.key.map((k) => k.sql).join(", ");
          this.#logger.warn(
            `${this.#where}: no index serves ORDER BY ${order}: ${problem}, so pages get ` +
              "slower as the table grows. Create one, with the where's equality columns first: " +
              `CREATE INDEX ON ${shape.from} (${order}).`,
          );
        },
        (error: Error) =>
          this.#logger.debug(`${this.#where}: could not check the index: ${error.message}`),
      )
      // Nothing awaits this check: a logger that throws must not bring the process down.
      .catch(() => {});
  }

  async #all(text: string, values: readonly unknown[], what: string): Promise<Row[]> {
    try {
      return await this.#driver.all(text, values);
    } catch (error) {
      throw this.#failed(error, `run the ${what} query`, text);
    }
  }

  #failed(error: unknown, what: string, text?: string): WaymarkError {
    if (error instanceof WaymarkError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new WaymarkError(
      "SOURCE_FAILED",
      `${this.#where}: could not ${what}: ${message}${text ? ` (${text})` : ""}`,
      { cause: error },
    );
  }

  #keyValue(entity: E, column: KeyColumn): KeyValue {
    const value = (entity as Row)[column.name];
    if (value === undefined && !(column.name in (entity as Row))) {
      throw new WaymarkError(
        "INVALID_ENTITY",
        `${this.#where}: an entity has no key column "${column.name}"; keep the key columns ` +
          "in what decode returns (the cursor is read from them).",
      );
    }
    return keyValue(value, column.kind, column.name, this.#where);
  }

  /** The key of a raw row, as statement parameters. */
  #rowKey(row: Row): KeyValue[] {
    return this.#key.map((c) => keyValue(row[c.name], c.kind, c.name, this.#where));
  }

  /** A cursor (the checkpoint's, or a shard bound) as the key's values. */
  #keyOf(cursor: Cursor): KeyValue[] {
    if (this.#key.length === 1) return [cursor];
    const values = typeof cursor === "string" ? parseKeyCursor(cursor) : [];
    if (values.length !== this.#key.length) {
      throw new InvalidOptionError(
        "key",
        `${this.#where}: the cursor ${describeValue(cursor)} does not fit the ${this.#key.length}-column ` +
          "key; a composite key's cursor (and a shard's from/to) is made by keyCursor(...values).",
      );
    }
    return values;
  }
}
