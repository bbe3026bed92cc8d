/**
 * A pg-boss worker process for the fan-out test: registers `workPartitions` for a processor
 * whose batches write one effect per entity through `ctx.tx` (with this process's pid), and
 * stops gracefully on SIGTERM. Configured by the WORKER env variable (JSON).
 */
import PgBoss from "pg-boss";
import { defineProcessor } from "../../src/core/processor.js";
import { workPartitions } from "../../src/integrations/pg-boss.js";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import type { PgTx } from "../../src/stores/postgres/postgres-tx.js";

/** What the test tells a pg-boss worker. */
export interface BossWorkerConfig {
  url: string;
  schema: string;
  entities: number;
  batchSize: number;
  delayMs: number;
  expireInSeconds: number;
  deadlineMarginMs?: number;
  /** The processor's lease; a SIGKILLed worker's partition is taken over after it. */
  leaseTtlMs?: number;
}

const config = JSON.parse(process.env.WORKER as string) as BossWorkerConfig;
const store = await PostgresStore.open({
  connectionString: config.url,
  schema: config.schema,
  poolSize: 2,
});
const boss = new PgBoss({
  connectionString: config.url,
  schema: `${config.schema}_boss`,
  expireInSeconds: config.expireInSeconds,
  max: 3,
  supervise: false,
  schedule: false,
});
boss.on("error", (error) => console.error(error));
await boss.start();

const effects = `${config.schema}.effects`;
const processor = defineProcessor<number, undefined, PgTx>({
  name: "backfill",
  batchSize: config.batchSize,
  ...(config.leaseTtlMs === undefined ? {} : { leaseTtlMs: config.leaseTtlMs }),
  entities: ({ after }) => {
    const first = after === null ? 1 : after + 1;
    return Array.from({ length: Math.max(0, config.entities - first + 1) }, (_, i) => first + i);
  },
  id: (n) => n,
  async processBatch(batch, ctx) {
    await new Promise((resolve) => setTimeout(resolve, config.delayMs));
    for (const n of batch) {
      await ctx.tx.query(
        `INSERT INTO ${effects} (partition, entity, owner, writes) VALUES ($1, $2, $3, 1)
         ON CONFLICT (partition, entity) DO UPDATE SET writes = ${effects}.writes + 1`,
        [ctx.partition, n, String(process.pid)],
      );
    }
  },
});
await workPartitions(boss, processor, {
  store,
  ...(config.deadlineMarginMs === undefined ? {} : { deadlineMarginMs: config.deadlineMarginMs }),
  pollingIntervalSeconds: 0.5,
  busyRetrySeconds: 1,
  logger: false,
});
process.stdout.write("ready\n");

process.once("SIGTERM", () => {
  void (async () => {
    await boss.stop({ graceful: true, wait: true, timeout: 10_000 });
    await store.close();
    process.exit(0);
  })();
});
