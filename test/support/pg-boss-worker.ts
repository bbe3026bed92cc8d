/**
 * A pg-boss worker process for the fan-out test: registers `workPartitions` for a processor
 * whose batches write one effect per entity through `ctx.tx` (with this process's pid), and
 * stops gracefully on SIGTERM. Configured by the WORKER env variable (JSON).
 */
import PgBoss from "pg-boss";
import { workPartitions } from "../../src/integrations/pg-boss.js";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import { effectsProcessor } from "../fixtures/effects-processor.js";

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
  /** Whether a running partition can be split (at the middle of what it has not read). */
  splittable?: boolean;
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

const processor = effectsProcessor({
  effects: `${config.schema}.effects`,
  entities: config.entities,
  batchSize: config.batchSize,
  delayMs: config.delayMs,
  owner: String(process.pid),
  ...(config.leaseTtlMs === undefined ? {} : { leaseTtlMs: config.leaseTtlMs }),
  ...(config.splittable ? { splittable: true } : {}),
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
