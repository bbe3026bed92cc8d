// Trains the model on a SQLite store, resuming from its checkpoint if there is one, and prints
// one JSON line on stdout (log lines go to stderr). `--kill-at 17:during-put` SIGKILLs this process at that point of batch 17.
//
//   node --import tsx examples/train-model/main.ts --store .waymark/train.db [--kill-at B:PHASE]
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { run, SqliteStore } from "../../src/index.js";
import { weightsFrom, weightsHex } from "./model.js";
import {
  DEFAULT_SETTINGS,
  type KillPhase,
  MODELS_TABLE,
  publishedWeights,
  trainingProcessor,
} from "./processor.js";

const { values } = parseArgs({
  options: {
    store: { type: "string" },
    "kill-at": { type: "string" },
    games: { type: "string" },
    quiet: { type: "boolean" },
  },
});
if (!values.store) throw new Error("usage: main.ts --store PATH [--kill-at BATCH:PHASE]");

const [killBatch, killPhase] = (values["kill-at"] ?? "").split(":") as [string, KillPhase];
const settings = {
  ...DEFAULT_SETTINGS,
  games: Number(values.games ?? DEFAULT_SETTINGS.games),
  onPhase: (phase: KillPhase, batch: number) => {
    if (String(batch) === killBatch && phase === killPhase) process.kill(process.pid, "SIGKILL");
  },
};

const store = new SqliteStore(values.store);
store.database.exec(MODELS_TABLE);
const processor = trainingProcessor(settings);
// Log lines go to stderr, so that stdout is the one JSON line a caller parses.
const toStderr = (message: string) => process.stderr.write(`[waymark] ${message}\n`);
const logger = values.quiet
  ? false
  : { debug: () => {}, info: toStderr, warn: toStderr, error: toStderr };
// A killed runner's lease stays live for leaseTtlMs: wait for it to lapse, then take over.
const held = await store.getCheckpoint({
  processor: processor.name,
  partition: "default",
  shard: "",
});
const leaseLeft = held?.leaseOwner ? (held.leaseExpiresAt ?? 0) - Date.now() : 0;
if (leaseLeft > 0) {
  if (logger) logger.info(`Waiting ${leaseLeft} ms for the killed runner's lease to expire.`);
  await sleep(leaseLeft + 50);
}
let result = await run(processor, { store, logger });
for (let waited = 0; result.status === "busy" && waited < 10_000; waited += 250) {
  await sleep(250);
  result = await run(processor, { store, logger });
}
const bytes = publishedWeights(store);
await store.close();
const weights = bytes ? weightsFrom(bytes) : null;
console.log(
  JSON.stringify({
    status: result.status,
    resumedFrom: result.resumedFrom,
    processed: result.processed,
    homeAdvantage: weights?.[0] ?? null,
    ratings: weights ? [...weights.subarray(1)] : null,
    weightsHex: weights ? weightsHex(weights) : null,
  }),
);
