/**
 * The child process of the crash tests and the torture script: runs one processor over
 * entities 1..total on a SQLite file, and SIGKILLs itself at the kill point it is given.
 *
 * Every entity leaves two traces: one row written through `ctx.tx` (an upsert that counts
 * writes, so that a double write shows), and one line in an append-only "external effects"
 * log outside the store, fsynced before the batch returns, which stands for an email sent or
 * an API called. The parent compares both with the committed checkpoint.
 *
 * Configured by the `WAYMARK_CRASH` environment variable (JSON, see {@link CrashChildConfig}).
 * Prints `processing` once the first batch starts, and the run's result as one JSON line.
 */
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { setTimeout as delay } from "node:timers/promises";
import {
  defineProcessor,
  type RunResult,
  run,
  SqliteStore,
  type SqliteTx,
} from "../../src/index.js";
import { type CrashChildConfig, type CrashChildReport, EFFECTS_TABLE } from "./harness.js";

const config = JSON.parse(process.env.WAYMARK_CRASH ?? "null") as CrashChildConfig | null;
if (!config) throw new Error("Set WAYMARK_CRASH to the child's JSON configuration.");
const { killAt } = config;

const store = new SqliteStore(config.db, { busyTimeoutMs: 10_000 });
store.database.exec(
  `CREATE TABLE IF NOT EXISTS ${EFFECTS_TABLE} (
     partition TEXT NOT NULL, entity INTEGER NOT NULL, writes INTEGER NOT NULL,
     PRIMARY KEY (partition, entity))`,
);
const log = openSync(config.effects, "a");
let announced = false;

function die(): never {
  process.kill(process.pid, "SIGKILL");
  throw new Error("unreachable: SIGKILL did not stop the process");
}

async function* numbers(after: number, total: number): AsyncGenerator<number> {
  for (let n = after + 1; n <= total; n++) yield n;
}

const processor = defineProcessor<number, undefined, SqliteTx>({
  name: "crash-players",
  batchSize: config.batchSize,
  // The shortest lease allowed, so that the next run takes over a dead runner's lease soon.
  leaseTtlMs: 1000,
  count: () => config.total,
  entities: ({ after }) => numbers((after as number | null) ?? 0, config.total),
  id: (n) => n,
  async processBatch(batch, ctx) {
    if (!announced) {
      announced = true;
      process.stdout.write("processing\n");
    }
    for (const n of batch) {
      writeSync(log, `${config.tag} ${config.partition} ${n}\n`);
      fsyncSync(log);
      ctx.tx.run(
        `INSERT INTO ${EFFECTS_TABLE} (partition, entity, writes) VALUES (?, ?, 1)
         ON CONFLICT (partition, entity) DO UPDATE SET writes = writes + 1`,
        config.partition,
        n,
      );
      if (killAt?.kind === "entity" && killAt.id === n) die();
    }
    if (config.workMs > 0) await delay(config.workMs);
  },
});

const started = Date.now();
let busyAttempts = 0;
let result: RunResult;
for (;;) {
  result = await run(processor, {
    store,
    partition: config.partition,
    logger: false,
    // onProgress fires after each commit: the moment "right after a commit".
    onProgress: (progress) => {
      if (killAt?.kind === "commit" && progress.completed >= killAt.completed) die();
    },
  });
  // A killed runner's lease outlives it until it expires; wait for it like a queue would.
  if (result.status !== "busy" || Date.now() - started > config.busyDeadlineMs) break;
  busyAttempts++;
  await delay(50);
}
closeSync(log);
await store.close();
const report: CrashChildReport = {
  runId: result.runId,
  status: result.status,
  processed: result.processed,
  resumedFrom: result.resumedFrom,
  completed: result.completed,
  batches: result.batches,
  busyAttempts,
  error: result.error ? `${result.error.name}: ${result.error.message}` : null,
};
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exitCode = result.status === "completed" ? 0 : 1;
