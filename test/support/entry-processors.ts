import { defineProcessor } from "../../src/core/processor.js";

/**
 * The processors the entry-point contract runs through `run`, `runPartitions`, `waymark run`
 * and the pg-boss worker: 30 entities in batches of five, each writing one row per entity
 * through `ctx.tx` into `table` (`key TEXT PRIMARY KEY CHECK (key NOT LIKE 'poison%'),
 * writes`), in the dialect of whichever store provides the handle.
 */
export interface EntryConfig {
  /** The effects table, schema-qualified on PostgreSQL. */
  readonly table: string;
  /** While true, entity {@link POISONED} writes a row the table refuses. */
  readonly poisoned: () => boolean;
  /** How long each batch of `budget` takes, so that a short time budget suspends it. */
  readonly batchDelayMs: number;
}

export const ENTITIES = 30;
/** The entity whose row breaks the effects table's CHECK while the poison is in. */
export const POISONED = 17;
const IDS = Array.from({ length: ENTITIES }, (_, i) => i + 1);

interface SqlTx {
  query?(sql: string, params: unknown[]): Promise<unknown>;
  run?(sql: string, ...params: unknown[]): unknown;
}

/** One upsert through `ctx.tx`, as PostgreSQL (`query`) or SQLite (`run`) takes it. */
async function writeEffect(tx: unknown, table: string, key: string): Promise<void> {
  const sql = tx as SqlTx;
  if (typeof sql.query === "function") {
    await sql.query(
      `INSERT INTO ${table} (key, writes) VALUES ($1, 1)
       ON CONFLICT (key) DO UPDATE SET writes = ${table}.writes + 1`,
      [key],
    );
  } else if (typeof sql.run === "function") {
    sql.run(
      `INSERT INTO ${table} (key, writes) VALUES (?, 1)
       ON CONFLICT (key) DO UPDATE SET writes = writes + 1`,
      key,
    );
  } else {
    throw new Error("ctx.tx is neither a PostgreSQL nor a SQLite handle");
  }
}

function entryProcessor(
  name: string,
  config: EntryConfig,
  extra: Partial<Parameters<typeof defineProcessor<number>>[0]> = {},
) {
  return defineProcessor<number>({
    name,
    batchSize: 5,
    retry: false,
    entities: ({ after }) => IDS.filter((n) => after === null || n > (after as number)),
    id: (n) => n,
    lookup: (ids) => IDS.filter((n) => ids.includes(n)),
    count: () => ENTITIES,
    async processBatch(batch, ctx) {
      if (name === "budget") await new Promise((r) => setTimeout(r, config.batchDelayMs));
      for (const n of batch) {
        const poison =
          n === POISONED && (name === "skipping" || name === "failing") && config.poisoned();
        await writeEffect(ctx.tx, config.table, poison ? `poison-${name}-${n}` : `${name}-${n}`);
      }
    },
    ...extra,
  });
}

/** The scenarios' processors, by name. */
export function entryProcessors(config: EntryConfig) {
  return {
    /** Every entity through ctx.tx: completes. */
    plain: entryProcessor("plain", config),
    /** The poisoned row is skipped by bisection; the run completes without it. */
    skipping: entryProcessor("skipping", config, { skip: { limit: 5 } }),
    /** The poisoned row fails its batch, retried twice, then the run fails. */
    failing: entryProcessor("failing", config, {
      retry: { attempts: 2, initialDelayMs: 1, maxDelayMs: 1, jitter: 0 },
    }),
    /** Entity 11 comes again after 12: the run fails with ORDER_VIOLATION, 10 committed. */
    unordered: entryProcessor("unordered", config, {
      entities: ({ after }) =>
        [...IDS.slice(0, 12), 11, ...IDS.slice(12)].filter(
          (n) => after === null || n > (after as number),
        ),
    }),
    /** Slow batches: a short time budget suspends it; a continuation completes it. */
    budget: entryProcessor("budget", config),
  };
}
