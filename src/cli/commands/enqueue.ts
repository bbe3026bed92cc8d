import { type Command, Option } from "commander";
import { enqueuePartitions } from "../../integrations/pg-boss.js";
import { startBoss } from "../boss.js";
import { EXIT } from "../exit-codes.js";
import { loadProcessors } from "../load-processors.js";
import { partitionsOf } from "../partitions.js";
import { CliError, printJson, type StoreCommandOptions, withStoreOptions } from "../shared.js";

interface EnqueueOptions extends StoreCommandOptions {
  partitions?: string;
  from?: string;
  to?: string;
  queue?: string;
  processors?: string;
  bossSchema: string;
}

/**
 * `waymark enqueue PROCESSOR`: sends one pg-boss job per partition for `waymark worker` to
 * pick up: a list (`--partitions a,b,c`) or every day of a date range (`--from --to`).
 */
export function registerEnqueue(program: Command): void {
  withStoreOptions(
    program
      .command("enqueue")
      .description("send one pg-boss job per partition, for `waymark worker` to run")
      .argument("<processor>", "the processor's name")
      .option("--partitions <list>", "comma-separated partitions, e.g. a,b,c")
      .option("--from <date>", "first day of a range of partitions, YYYY-MM-DD")
      .option("--to <date>", "last day of the range (included), YYYY-MM-DD")
      .option("--queue <name>", "queue to send to; default waymark-PROCESSOR")
      .option(
        "--processors <file>",
        "module defining the processor: one job per shard if it has shards",
      )
      .addOption(
        new Option("--boss-schema <name>", "pg-boss's schema")
          .env("PGBOSS_SCHEMA")
          .default("pgboss"),
      ),
  ).action(async (name: string, options: EnqueueOptions) => {
    const partitions = partitionsOf(options, { single: false });
    const processor = options.processors ? await findProcessor(options.processors, name) : { name };
    const boss = await startBoss(options.store, options.bossSchema);
    try {
      const sent = await enqueuePartitions(boss, processor, partitions, {
        ...(options.queue ? { queue: options.queue } : {}),
      });
      if (options.json) printJson({ processor: name, jobs: sent, partitions });
      else {
        const shards = sent === partitions.length ? "" : ` as ${sent} shard jobs`;
        process.stdout.write(`Enqueued ${partitions.length} partition(s) of ${name}${shards}.\n`);
      }
    } finally {
      await boss.stop({ graceful: false, wait: true, timeout: 5000 });
    }
  });
}

async function findProcessor(file: string, name: string) {
  const found = (await loadProcessors(file)).find((p) => p.name === name);
  if (!found) throw new CliError(`${file} exports no processor named "${name}".`, EXIT.usage);
  return found;
}
