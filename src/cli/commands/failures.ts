import { type Command, Option } from "commander";
import type { FailureStatus, StoredFailure } from "../../core/store/records.js";
import {
  formatDuration,
  printJson,
  printTable,
  type StoreCommandOptions,
  usingStore,
  withStoreOptions,
} from "../shared.js";

interface FailuresOptions extends StoreCommandOptions {
  processor?: string;
  partition?: string;
  shard?: string;
  resolved?: boolean;
  all?: boolean;
}

/**
 * `waymark failures`: the failure ledger, entities skipped after every attempt failed. Entries
 * a later success resolved are shown only with `--resolved` or `--all`.
 */
export function registerFailures(program: Command): void {
  withStoreOptions(
    program
      .command("failures")
      .description("list entities skipped after failing every attempt (the failure ledger)")
      .option("--processor <name>", "only this processor")
      .option("--partition <partition>", "only this partition")
      .option("--shard <id>", "only this shard of the partition")
      .addOption(
        new Option(
          "--resolved",
          "only entries a later run or redrive resolved by processing the entity",
        ).conflicts("all"),
      )
      .option("--all", "open and resolved entries"),
  ).action(async (options: FailuresOptions) => {
    const status: FailureStatus = options.all ? "all" : options.resolved ? "resolved" : "open";
    await usingStore(
      options.store,
      async (store) => {
        const failures = await store.listFailures({
          processor: options.processor,
          partition: options.partition,
          shard: options.shard,
          status,
        });
        if (options.json) return printJson(failures);
        const now = Date.now();
        const columns: Array<readonly [string, string]> = [
          ["processor", "PROCESSOR"],
          ["partition", "PARTITION"],
          ["shard", "SHARD"],
          ["entity", "ENTITY"],
          ["attempts", "ATTEMPTS"],
          ["last", "LAST FAILED"],
          ...(status === "open" ? [] : [["resolved", "RESOLVED"] as const]),
          ["error", "ERROR"],
        ];
        printTable(
          failures.map((f) => ({
            processor: f.processor,
            partition: f.partition,
            shard: f.shard,
            entity: JSON.stringify(f.cursor),
            attempts: String(f.attempts),
            last: `${formatDuration(now - f.lastFailedAt)} ago`,
            resolved: resolvedText(f, now),
            error: f.error.length > 80 ? `${f.error.slice(0, 77)}...` : f.error,
          })),
          columns,
          status === "open"
            ? "No failed entities."
            : status === "resolved"
              ? "No resolved entries."
              : "No failed entities, open or resolved.",
        );
      },
      "read",
    );
  });
}

/** `3m 05s ago by RUN_ID` for a resolved entry, `-` for an open one. */
function resolvedText(failure: StoredFailure, now: number): string {
  if (failure.resolvedAt === null) return "-";
  return `${formatDuration(now - failure.resolvedAt)} ago by ${failure.resolvedBy}`;
}
