import type { Command } from "commander";
import {
  formatDuration,
  printJson,
  printTable,
  type StoreCommandOptions,
  usingStore,
  withStoreOptions,
} from "../shared.js";

/** `waymark failures`: the failure ledger, entities skipped after every attempt failed. */
export function registerFailures(program: Command): void {
  withStoreOptions(
    program
      .command("failures")
      .description("list entities skipped after failing every attempt (the failure ledger)")
      .option("--processor <name>", "only this processor")
      .option("--partition <partition>", "only this partition")
      .option("--shard <id>", "only this shard of the partition"),
  ).action(
    async (
      options: StoreCommandOptions & { processor?: string; partition?: string; shard?: string },
    ) => {
      await usingStore(
        options.store,
        async (store) => {
          const failures = await store.listFailures({
            processor: options.processor,
            partition: options.partition,
            shard: options.shard,
          });
          if (options.json) return printJson(failures);
          const now = Date.now();
          printTable(
            failures.map((f) => ({
              processor: f.processor,
              partition: f.partition,
              shard: f.shard,
              entity: JSON.stringify(f.cursor),
              attempts: String(f.attempts),
              last: `${formatDuration(now - f.lastFailedAt)} ago`,
              error: f.error.length > 80 ? `${f.error.slice(0, 77)}...` : f.error,
            })),
            [
              ["processor", "PROCESSOR"],
              ["partition", "PARTITION"],
              ["shard", "SHARD"],
              ["entity", "ENTITY"],
              ["attempts", "ATTEMPTS"],
              ["last", "LAST FAILED"],
              ["error", "ERROR"],
            ],
            "No failed entities.",
          );
        },
        "read",
      );
    },
  );
}
