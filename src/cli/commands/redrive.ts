import type { Command } from "commander";
import { checkpointKey, describeKey } from "../../core/checkpoint-key.js";
import { redrive } from "../../core/redrive.js";
import { EXIT } from "../exit-codes.js";
import { loadProcessor } from "../load-processors.js";
import {
  CliError,
  printJson,
  type StoreCommandOptions,
  usingStore,
  withStoreOptions,
} from "../shared.js";

/** `waymark redrive PROCESSOR PARTITION`: reprocess only the ledger's entities. */
export function registerRedrive(program: Command): void {
  withStoreOptions(
    program
      .command("redrive")
      .description("reprocess only the entities in the failure ledger; clear those that succeed")
      .argument("<processor>", "processor name")
      .argument("<partition>", "partition")
      .option("--shard <id>", "the shard of the partition, for a sharded processor")
      .requiredOption(
        "--processors <file>",
        "module exporting your processors (default export, array or named exports)",
      ),
  ).action(
    async (
      name: string,
      partition: string,
      options: StoreCommandOptions & { processors: string; shard?: string },
    ) => {
      const processor = await loadProcessor(options.processors, name);
      await usingStore(
        options.store,
        async (store) => {
          const result = await redrive(processor, {
            store,
            partition,
            ...(options.shard === undefined ? {} : { shard: options.shard }),
            logger: options.json ? false : undefined,
          });
          if (options.json) printJson(result);
          const where = describeKey(checkpointKey(name, partition, options.shard));
          if (result.status === "busy") {
            throw new CliError(`${where} is leased by a running run; try later.`, EXIT.tempfail);
          }
          if (result.status === "suspended") {
            throw new CliError(`The redrive of ${where} was stopped; run it again.`, EXIT.tempfail);
          }
          if (result.stillFailing.length > 0 || result.notFound.length > 0)
            process.exitCode = EXIT.failure;
        },
        "change",
      );
    },
  );
}
