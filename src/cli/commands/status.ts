import type { Command } from "commander";
import { loadCorrupt, loadStatus } from "../../reports/load.js";
import type { RolledStatusRow } from "../../reports/shard-rollup.js";
import { formatRate } from "../duration.js";
import {
  failOnCorrupt,
  formatDuration,
  printJson,
  printTable,
  type StoreCommandOptions,
  usingStore,
  withStoreOptions,
} from "../shared.js";

/** `waymark status`: the checkpoints in flight, with progress, rate, ETA and age. */
export function registerStatus(program: Command): void {
  withStoreOptions(
    program
      .command("status")
      .description(
        "list active checkpoints: progress, rate, ETA, age, lease holder, resumes; a sharded " +
          "partition's sum, then each of its shards",
      )
      .option("--processor <name>", "only this processor"),
  ).action(async (options: StoreCommandOptions & { processor?: string }) => {
    await usingStore(
      options.store,
      async (store) => {
        const [rows, corrupt] = await Promise.all([
          loadStatus(store, { processor: options.processor }),
          loadCorrupt(store, { processor: options.processor }),
        ]);
        if (options.json) {
          printJson(rows);
          return failOnCorrupt(corrupt);
        }
        printTable(
          [
            ...rows
              .flatMap((r): RolledStatusRow[] => [r, ...(r.shards ?? [])])
              .map((r) => ({
                processor: r.processor,
                partition: r.partition,
                shard: r.shards ? `${r.shards.length} shards` : r.shard,
                progress: `${r.completed}/${r.total ?? "?"}`,
                percent: r.percent === null ? "" : `${r.percent.toFixed(1)}%`,
                rate: formatRate(r.ratePerSecond),
                eta: r.etaMs === null ? "-" : formatDuration(r.etaMs),
                age: formatDuration(r.ageMs),
                lease: r.leaseHolder ?? "-",
                resumes: String(r.resumes),
              })),
            ...corrupt.map((c) => ({
              processor: c.processor,
              partition: c.partition,
              shard: c.shard,
              progress: "CORRUPT",
              percent: "",
              rate: "-",
              eta: "-",
              age: "-",
              lease: "-",
              resumes: "-",
            })),
          ],
          [
            ["processor", "PROCESSOR"],
            ["partition", "PARTITION"],
            ["shard", "SHARD"],
            ["progress", "DONE"],
            ["percent", "%"],
            ["rate", "RATE"],
            ["eta", "ETA"],
            ["age", "AGE"],
            ["lease", "LEASE HOLDER"],
            ["resumes", "RESUMES"],
          ],
          "No active checkpoints.",
        );
        failOnCorrupt(corrupt);
      },
      "read",
    );
  });
}
