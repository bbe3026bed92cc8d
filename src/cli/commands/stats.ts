import type { Command } from "commander";
import { differenceTexts, durationText } from "../../reports/duration-text.js";
import { loadStats } from "../../reports/load.js";
import { stallWarning } from "../../reports/stalled.js";
import { parseDuration } from "../duration.js";
import {
  printJson,
  printTable,
  type StoreCommandOptions,
  usingStore,
  withStoreOptions,
} from "../shared.js";

/** `waymark stats`: what checkpoints saved per processor over a window. */
export function registerStats(program: Command): void {
  withStoreOptions(
    program
      .command("stats")
      .description("work saved by resumes per processor: entities, time, overhead, net saving")
      .option("--since <duration>", "window of run history, e.g. 7d, 24h, 90m", "7d")
      .option("--processor <name>", "only this processor"),
  ).action(async (options: StoreCommandOptions & { since: string; processor?: string }) => {
    const windowMs = parseDuration(options.since, "--since");
    await usingStore(
      options.store,
      async (store) => {
        const since = Date.now() - windowMs;
        const rows = await loadStats(store, { since, processor: options.processor });
        if (options.json) return printJson({ since, processors: rows });
        printTable(
          rows.map((r) => {
            // Rounded alike, so that TIME SAVED - OVERHEAD = NET SAVING on screen.
            const [time = "-", overhead, net = "-"] =
              r.timeSavedMs === null
                ? [undefined, durationText(r.checkpointOverheadMs)]
                : differenceTexts(r.timeSavedMs, r.checkpointOverheadMs);
            return {
              processor: r.processor,
              runs: String(r.runs),
              failed: String(r.failedRuns),
              resumed: String(r.resumedRuns),
              saved: String(r.entitiesSaved),
              time,
              overhead: overhead ?? "-",
              net,
            };
          }),
          [
            ["processor", "PROCESSOR"],
            ["runs", "RUNS"],
            ["failed", "FAILED"],
            ["resumed", "RESUMED"],
            ["saved", "ENTITIES SAVED"],
            ["time", "TIME SAVED"],
            ["overhead", "CHECKPOINT OVERHEAD"],
            ["net", "NET SAVING"],
          ],
          `No runs since ${new Date(since).toISOString()}.`,
        );
        const warning = stallWarning(rows.flatMap((r) => r.stalledPartitions));
        if (warning) console.log(`\n! ${warning}`);
      },
      "read",
    );
  });
}
