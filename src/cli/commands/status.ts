import type { Command } from "commander";
import {
  formatDuration,
  printJson,
  printTable,
  type StoreCommandOptions,
  usingStore,
  withStoreOptions,
} from "../shared.js";

/** `waymark status`: the checkpoints in flight, with progress and age. */
export function registerStatus(program: Command): void {
  withStoreOptions(
    program
      .command("status")
      .description("list active checkpoints: progress, age and lease holder")
      .option("--processor <name>", "only this processor"),
  ).action(async (options: StoreCommandOptions & { processor?: string }) => {
    await usingStore(options.store, async (store) => {
      const now = Date.now();
      const checkpoints = await store.listCheckpoints({ processor: options.processor });
      const rows = checkpoints.map((c) => {
        const leased = c.leaseOwner !== null && (c.leaseExpiresAt ?? 0) > now;
        return {
          processor: c.processor,
          partition: c.partition,
          completed: c.completed,
          total: c.total,
          percent: c.total ? Math.round((c.completed / c.total) * 1000) / 10 : null,
          cursor: c.cursor,
          ageMs: now - c.updatedAt,
          leaseHolder: leased ? c.leaseOwner : null,
          attempt: c.attempt,
        };
      });
      if (options.json) return printJson(rows);
      printTable(
        rows.map((r) => ({
          processor: r.processor,
          partition: r.partition,
          progress: `${r.completed}/${r.total ?? "?"}`,
          percent: r.percent === null ? "" : `${r.percent.toFixed(1)}%`,
          age: formatDuration(r.ageMs),
          lease: r.leaseHolder ?? "-",
        })),
        [
          ["processor", "PROCESSOR"],
          ["partition", "PARTITION"],
          ["progress", "DONE"],
          ["percent", "%"],
          ["age", "AGE"],
          ["lease", "LEASE HOLDER"],
        ],
        "No active checkpoints.",
      );
    });
  });
}
