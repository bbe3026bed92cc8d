/**
 * The child of the group commit crash tests: eight partitions of one processor run at once in
 * this process on one store, so that their commits go together. Partitions listed in
 * `txPartitions` write one row per entity through `ctx.tx` (exactly once); every partition
 * appends one line per entity to the effects log outside the store (at most one batch
 * replayed per crash). Prints `processing` at its first batch and a JSON result at its end.
 */
import { appendFileSync } from "node:fs";
import { defineProcessor, openStore, runPartitions } from "../../src/index.js";
import type { PgTx } from "../../src/stores/postgres/postgres-tx.js";
import type { SqliteTx } from "../../src/stores/sqlite/sqlite-tx.js";

/** The child's configuration, passed as JSON in `WAYMARK_GROUP_CRASH`. */
export interface GroupChildConfig {
  readonly store: string;
  /** The table `ctx.tx` writes into: `effects` on SQLite, `schema.effects` on PostgreSQL. */
  readonly table: string;
  readonly log: string;
  readonly partitions: readonly string[];
  readonly txPartitions: readonly string[];
  readonly entities: number;
  readonly batchSize: number;
  /**
   * Time each batch takes, so that a whole backfill lasts long enough (about a second) for
   * every kill to land mid-run rather than after the child finished by itself.
   */
  readonly batchDelayMs?: number;
}

const config = JSON.parse(process.env.WAYMARK_GROUP_CRASH ?? "{}") as GroupChildConfig;
const store = await openStore(config.store);
const writesTx = new Set(config.txPartitions);
let announced = false;

const processor = defineProcessor<number>({
  name: "group-crash",
  batchSize: config.batchSize,
  retry: false,
  // A killed child's leases lapse quickly, so that the next child can take them over.
  leaseTtlMs: 1000,
  entities: ({ after }) =>
    Array.from({ length: config.entities }, (_, i) => i + 1).filter(
      (n) => after === null || n > (after as number),
    ),
  id: (n) => n,
  async processBatch(batch, ctx) {
    if (!announced) {
      announced = true;
      process.stdout.write("processing\n");
    }
    if (config.batchDelayMs) await new Promise((r) => setTimeout(r, config.batchDelayMs));
    if (writesTx.has(ctx.partition)) {
      for (const n of batch) {
        const sql = `INSERT INTO ${config.table} (partition, entity, writes) VALUES ($1, $2, 1)
          ON CONFLICT (partition, entity) DO UPDATE SET writes = ${config.table}.writes + 1`;
        if (store.kind === "postgres") await (ctx.tx as PgTx).query(sql, [ctx.partition, n]);
        else (ctx.tx as SqliteTx).run(sql.replace(/\$\d/g, "?"), ctx.partition, n);
      }
    }
    appendFileSync(config.log, batch.map((n) => `${ctx.partition} ${n}\n`).join(""));
  },
});

// Partitions still leased by a killed child are busy until their lease lapses: try again.
const giveUpAt = Date.now() + 30_000;
let result = await runOnce();
while (result.counts.busy > 0 && Date.now() < giveUpAt) {
  await new Promise((resolve) => setTimeout(resolve, 200));
  result = await runOnce();
}

function runOnce() {
  return runPartitions(processor, {
    store,
    partitions: config.partitions,
    concurrency: config.partitions.length,
    logger: false,
  });
}
const groups = (store as { groupCommit?: unknown }).groupCommit ?? null;
await store.close();
process.stdout.write(
  `${JSON.stringify({ status: result.status, counts: result.counts, groups })}\n`,
);
