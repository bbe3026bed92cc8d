import type { Command } from "commander";
import { loadStale } from "../../reports/load.js";
import type { StaleReport } from "../../reports/stale.js";
import { parseDuration } from "../duration.js";
import {
  failOnCorrupt,
  formatDuration,
  printJson,
  printTable,
  type StoreCommandOptions,
  usingStore,
  withStoreOptions,
} from "../shared.js";

/** Options of `stale` and `gc`. */
export interface StaleOptions extends StoreCommandOptions {
  olderThan: string;
  processor?: string;
}

/** `waymark stale`: checkpoints nobody works on and runs left `running` by dead processes. */
export function registerStale(program: Command): void {
  withStoreOptions(
    program
      .command("stale")
      .description("list stale checkpoints (no live lease) and runs left running by dead processes")
      .option("--older-than <duration>", "silent for longer than this, e.g. 24h, 7d, 90m", "24h")
      .option("--processor <name>", "only this processor"),
  ).action(async (options: StaleOptions) => {
    const olderThanMs = parseDuration(options.olderThan, "--older-than");
    await usingStore(
      options.store,
      async (store) => {
        const report = await loadStale(store, { olderThanMs, processor: options.processor });
        if (options.json) printJson(report);
        else printStale(report);
        failOnCorrupt(report.corrupt);
      },
      "read",
    );
  });
}

/** Prints a stale report as two tables. */
export function printStale(report: StaleReport): void {
  printTable(
    report.checkpoints.map((c) => ({
      processor: c.processor,
      partition: c.partition,
      shard: c.shard,
      progress: `${c.completed}/${c.total ?? "?"}`,
      age: formatDuration(c.ageMs),
    })),
    [
      ["processor", "PROCESSOR"],
      ["partition", "PARTITION"],
      ["shard", "SHARD"],
      ["progress", "DONE"],
      ["age", "LAST COMMIT"],
    ],
    `No stale checkpoints (older than ${formatDuration(report.olderThanMs)}).`,
  );
  process.stdout.write("\n");
  printTable(
    report.runs.map((d) => ({
      run: d.run.runId,
      processor: d.run.processor,
      partition: d.run.partition,
      shard: d.run.shard,
      cause: d.cause,
      age: formatDuration(d.ageMs),
    })),
    [
      ["run", "DEAD RUN"],
      ["processor", "PROCESSOR"],
      ["partition", "PARTITION"],
      ["shard", "SHARD"],
      ["cause", "CAUSE"],
      ["age", "SILENT FOR"],
    ],
    "No runs left running by a dead process.",
  );
  if (report.corrupt.length > 0) {
    process.stdout.write("\n");
    printTable(
      report.corrupt.map((c) => ({
        processor: c.processor,
        partition: c.partition,
        shard: c.shard,
        field: c.field,
        value: c.value,
      })),
      [
        ["processor", "CORRUPT: PROCESSOR"],
        ["partition", "PARTITION"],
        ["shard", "SHARD"],
        ["field", "FIELD"],
        ["value", "VALUE"],
      ],
      "",
    );
  }
}
