import type { Command } from "commander";
import { describeKey } from "../../core/checkpoint-key.js";
import { collectGarbage } from "../../reports/actions.js";
import { loadStale } from "../../reports/load.js";
import { parseDuration } from "../duration.js";
import { failOnCorrupt, printJson, usingStore, withStoreOptions } from "../shared.js";
import { printStale, type StaleOptions } from "./stale.js";

/** `waymark gc`: removes what `stale` lists; never a checkpoint with a live lease. */
export function registerGc(program: Command): void {
  withStoreOptions(
    program
      .command("gc")
      .description("delete stale checkpoints and mark runs left running by dead processes failed")
      .option("--older-than <duration>", "silent for longer than this, e.g. 24h, 7d, 90m", "24h")
      .option("--dry-run", "list what would be removed and change nothing")
      .option("--processor <name>", "only this processor"),
  ).action(async (options: StaleOptions & { dryRun?: boolean }) => {
    const olderThanMs = parseDuration(options.olderThan, "--older-than");
    await usingStore(
      options.store,
      async (store) => {
        const now = Date.now();
        const report = await loadStale(store, { now, olderThanMs, processor: options.processor });
        if (options.dryRun) {
          if (options.json) printJson({ dryRun: true, ...report });
          else {
            process.stdout.write("Dry run: nothing is changed. gc would remove:\n\n");
            printStale(report);
          }
          return failOnCorrupt(report.corrupt);
        }
        const result = await collectGarbage(store, report, now);
        if (options.json) {
          printJson({ dryRun: false, ...result, corrupt: report.corrupt });
          return failOnCorrupt(report.corrupt);
        }
        for (const c of result.removed) {
          process.stdout.write(
            `removed checkpoint ${describeKey(c)} (${c.completed}/${c.total ?? "?"})\n`,
          );
        }
        for (const c of result.kept) {
          process.stdout.write(`kept checkpoint ${describeKey(c)}: a runner leased it meanwhile\n`);
        }
        for (const d of result.markedFailed) {
          process.stdout.write(
            `marked run ${d.run.runId} (${describeKey(d.run)}) failed: ${d.cause}\n`,
          );
        }
        process.stdout.write(
          `gc: ${result.removed.length} checkpoints removed, ${result.markedFailed.length} dead runs marked failed.\n`,
        );
        // Never removed by gc: a corrupt row's age and lease cannot be trusted. Reset it.
        failOnCorrupt(report.corrupt);
      },
      options.dryRun ? "read" : "change",
    );
  });
}
