import { type Command, Option } from "commander";
import { consoleLogger } from "../../core/logger.js";
import { defaultQueueName, workPartitions } from "../../integrations/pg-boss.js";
import { startBoss } from "../boss.js";
import { parseDuration } from "../duration.js";
import { EXIT } from "../exit-codes.js";
import { loadProcessors } from "../load-processors.js";
import {
  CliError,
  positiveInteger,
  type StoreCommandOptions,
  usingStore,
  withStoreOptions,
} from "../shared.js";

interface WorkerOptions extends StoreCommandOptions {
  processors: string;
  queue?: string;
  concurrency: string;
  bossSchema: string;
  shutdownTimeoutMs: string;
  jobExpiry?: string;
}

/**
 * `waymark worker`: runs the processors a module exports as pg-boss workers until SIGTERM or
 * SIGINT, then stops each run at its batch boundary (committed, lease released, continuation
 * job sent), stops pg-boss, closes the store and exits 0. A second signal exits at once.
 */
export function registerWorker(program: Command): void {
  withStoreOptions(
    program
      .command("worker")
      .description("run processors as pg-boss workers until SIGTERM/SIGINT")
      .requiredOption("--processors <file>", "module exporting processors made by defineProcessor")
      .option("--queue <name>", "queue to work (one processor only); default waymark-NAME")
      .option("--concurrency <n>", "partitions run at once per processor", "1")
      .addOption(
        new Option("--boss-schema <name>", "pg-boss's schema")
          .env("PGBOSS_SCHEMA")
          .default("pgboss"),
      )
      .option("--shutdown-timeout-ms <ms>", "how long to wait for runs to stop", "30000")
      .option(
        "--job-expiry <duration>",
        "pg-boss expiry of the queue's jobs (e.g. 10m); each run suspends before it and a " +
          "continuation job resumes it. Default: the queue's (pg-boss: 15m)",
      ),
    "write log lines as JSON objects on stderr, one per line (as WAYMARK_LOG=json does)",
  ).action(async (options: WorkerOptions) => {
    // The worker's output is its log: --json makes every line of it, the runs' too, JSON.
    if (options.json) process.env.WAYMARK_LOG = "json";
    const log = consoleLogger;
    const concurrency = positiveInteger(options.concurrency, "--concurrency", "e.g. 4");
    const shutdownMs = positiveInteger(
      options.shutdownTimeoutMs,
      "--shutdown-timeout-ms",
      "e.g. 30000",
    );
    const jobExpirySeconds =
      options.jobExpiry === undefined
        ? undefined
        : Math.max(2, Math.ceil(parseDuration(options.jobExpiry, "--job-expiry") / 1000));
    const processors = await loadProcessors(options.processors);
    if (options.queue && processors.length > 1) {
      throw new CliError(
        `--queue ${options.queue} names one queue but ${options.processors} exports ` +
          `${processors.length} processors; leave --queue out so each gets its own.`,
        EXIT.usage,
      );
    }
    const shutdown = new AbortController();
    const stopping = new Promise<NodeJS.Signals>((resolve) => {
      const onSignal = (signal: NodeJS.Signals) => {
        if (shutdown.signal.aborted) {
          log.warn(`worker: ${signal} again, exiting without waiting.`);
          process.exit(EXIT.failure);
        }
        shutdown.abort(new Error(`worker received ${signal}`));
        resolve(signal);
      };
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
    });
    await usingStore(options.store, async (store) => {
      const boss = await startBoss(options.store, options.bossSchema);
      try {
        const queues: string[] = [];
        for (const processor of processors) {
          for (let i = 0; i < concurrency; i++) {
            await workPartitions(boss, processor, {
              store,
              signal: shutdown.signal,
              ...(jobExpirySeconds === undefined ? {} : { jobExpirySeconds }),
              ...(options.queue ? { queue: options.queue } : {}),
            });
          }
          queues.push(options.queue ?? defaultQueueName(processor));
        }
        log.info(
          `worker ready: ${processors.map((p) => p.name).join(", ")} on ` +
            `${queues.join(", ")} ` +
            `(concurrency ${concurrency}); SIGTERM or Ctrl-C stops it.`,
        );
        const signal = await stopping;
        log.info(`worker: ${signal}, stopping at the next batch boundary.`);
      } finally {
        // Waits for the handlers in flight: each run returns suspended at its batch boundary.
        await boss.stop({ graceful: true, wait: true, timeout: shutdownMs });
      }
    });
    log.info("worker stopped.");
  });
}
