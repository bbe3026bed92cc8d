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
      .option("--partition <partition>", "only this partition"),
  ).action(async (options: StoreCommandOptions & { processor?: string; partition?: string }) => {
    await usingStore(options.store, async (store) => {
      const failures = await store.listFailures({
        processor: options.processor,
        partition: options.partition,
      });
      if (options.json) return printJson(failures);
      const now = Date.now();
      printTable(
        failures.map((f) => ({
          processor: f.processor,
          partition: f.partition,
          entity: JSON.stringify(f.cursor),
          attempts: String(f.attempts),
          last: `${formatDuration(now - f.lastFailedAt)} ago`,
          error: f.error.length > 80 ? `${f.error.slice(0, 77)}...` : f.error,
        })),
        [
          ["processor", "PROCESSOR"],
          ["partition", "PARTITION"],
          ["entity", "ENTITY"],
          ["attempts", "ATTEMPTS"],
          ["last", "LAST FAILED"],
          ["error", "ERROR"],
        ],
        "No failed entities.",
      );
    });
  });
}
