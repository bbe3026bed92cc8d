/**
 * A worker process for the multi-process PostgreSQL tests: runs a processor on each of its
 * partitions until every one is complete, writing one effect per entity through `ctx.tx`,
 * and prints what it does as JSON lines. Configured by the WORKER env variable (JSON).
 *
 * It uses only what a real worker would: `run()` on a `PostgresStore`.
 */
import { defineProcessor, run } from "../../src/index.js";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import type { PgTx } from "../../src/stores/postgres/postgres-tx.js";

/** What the test tells a worker to do. */
export interface WorkerConfig {
  url: string;
  schema: string;
  partitions: string[];
  /** Entities 1..entities in every partition. */
  entities: number;
  batchSize: number;
  leaseTtlMs: number;
  /** Time each batch spends before writing its effects (announced as a `sleeping` event). */
  delayMs: number;
  /** Suspend each run after this many committed batches, so that the lease changes hands. */
  batchesPerRun?: number;
  /** Give up after this long (the test fails on a worker that did not finish). */
  deadlineMs: number;
  /** Retry a failed batch every this many ms (up to 20 times); default: the processor default. */
  retryDelayMs?: number;
  /** Print the runner's warnings (e.g. batch retries) as `warn` events. */
  warnings?: boolean;
}

const config = JSON.parse(process.env.WORKER as string) as WorkerConfig;
const store = await PostgresStore.open({
  connectionString: config.url,
  schema: config.schema,
  poolSize: 2,
});
const effects = `${config.schema}.effects`;
let runIndex = 0;
let owner = "";

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ pid: process.pid, ...event })}\n`);
}

const processor = defineProcessor<number, undefined, PgTx>({
  name: "race",
  batchSize: config.batchSize,
  ...(config.retryDelayMs === undefined
    ? {}
    : { retry: { attempts: 20, initialDelayMs: config.retryDelayMs, factor: 1, jitter: 0 } }),
  leaseTtlMs: config.leaseTtlMs,
  // Under the lease: a partition someone already completed is not started over.
  entities: async ({ partition, after }) => {
    if (
      after === null &&
      (await store.lastCompletedAt({ processor: "race", partition, shard: "" }))
    ) {
      return [];
    }
    const first = after === null ? 1 : (after as number) + 1;
    return Array.from({ length: Math.max(0, config.entities - first + 1) }, (_, i) => first + i);
  },
  id: (n) => n,
  async processBatch(batch, ctx) {
    emit({ event: "sleeping", partition: ctx.partition, first: batch[0], owner });
    await new Promise((resolve) => setTimeout(resolve, config.delayMs));
    for (const n of batch) {
      await ctx.tx.query(
        `INSERT INTO ${effects} (partition, entity, owner, writes) VALUES ($1, $2, $3, 1)
         ON CONFLICT (partition, entity) DO UPDATE SET writes = ${effects}.writes + 1`,
        [ctx.partition, n, owner],
      );
    }
  },
});

const quiet = () => {};
const warningsAsEvents = {
  debug: quiet,
  info: quiet,
  warn: (message: string) => emit({ event: "warn", message }),
  error: (message: string) => emit({ event: "error", message }),
};

const deadline = Date.now() + config.deadlineMs;
const pending = new Set(config.partitions);
while (pending.size > 0 && Date.now() < deadline) {
  let progressed = false;
  for (const partition of [...pending]) {
    owner = `${process.pid}-${++runIndex}`;
    const stop = new AbortController();
    let batches = 0;
    const result = await run(processor, {
      store,
      partition,
      logger: config.warnings ? warningsAsEvents : false,
      signal: stop.signal,
      onProgress: () => {
        if (config.batchesPerRun && ++batches >= config.batchesPerRun) stop.abort();
      },
    });
    const code = (result.error as { code?: string } | undefined)?.code;
    emit({
      event: "run",
      partition,
      owner,
      status: result.status,
      processed: result.processed,
      code,
    });
    if (result.status === "completed") pending.delete(partition);
    if (result.status !== "busy" && result.status !== "suspended") progressed = true;
  }
  // Every partition is leased by someone else, or this worker just handed its lease over
  // (suspended on purpose): wait as long as the others do before asking again, so that the
  // lease really changes hands instead of going back to the fastest process every time.
  if (!progressed) await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 80));
}
await store.close();
emit({ event: "exit", pending: [...pending] });
process.exitCode = pending.size === 0 ? 0 : 1;
