import type { Command } from "commander";
import { InvalidOptionError } from "../../core/errors.js";
import type { Advice } from "../../reports/advise.js";
import { loadAdvice } from "../../reports/load.js";
import { parseDuration } from "../duration.js";
import {
  formatDuration,
  printJson,
  type StoreCommandOptions,
  usingStore,
  withStoreOptions,
} from "../shared.js";

/** `waymark advise [PROCESSOR]`: retry or checkpoint, decided from recorded history. */
export function registerAdvise(program: Command): void {
  withStoreOptions(
    program
      .command("advise")
      .description("should a processor checkpoint? the decision tree and ROI from run history")
      .argument("[processor]", "only this processor")
      .option("--weekly-runs <n>", "runs per week for the ROI figures (default: measured)")
      .option("--since <duration>", "window of run history, e.g. 30d", "30d")
      .option("--processor <name>", "only this processor (same as the argument)"),
  ).action(
    async (
      argument: string | undefined,
      options: StoreCommandOptions & { weeklyRuns?: string; since: string; processor?: string },
    ) => {
      const windowMs = parseDuration(options.since, "--since");
      const weeklyRuns = options.weeklyRuns === undefined ? undefined : Number(options.weeklyRuns);
      if (weeklyRuns !== undefined && !(Number.isFinite(weeklyRuns) && weeklyRuns > 0)) {
        throw new InvalidOptionError(
          "--weekly-runs",
          `Invalid --weekly-runs ${JSON.stringify(options.weeklyRuns)}: expected a positive number, e.g. 7.`,
        );
      }
      await usingStore(
        options.store,
        async (store) => {
          const now = Date.now();
          const since = now - windowMs;
          const processor = argument ?? options.processor;
          const advice = await loadAdvice(store, {
            now,
            windowMs,
            ...(weeklyRuns === undefined ? {} : { weeklyRuns }),
            ...(processor === undefined ? {} : { processor }),
          });
          if (options.json) return printJson(advice);
          if (advice.length === 0) {
            process.stdout.write(`No runs recorded since ${new Date(since).toISOString()}.\n`);
            return;
          }
          process.stdout.write(`${advice.map(formatAdvice).join("\n")}`);
        },
        "read",
      );
    },
  );
}

/** The advice as readable text: verdict, the branches with their figures, the ROI. */
export function formatAdvice(a: Advice): string {
  const f = a.figures;
  const time = (ms: number | null) => (ms === null ? "-" : formatDuration(ms));
  const lines = [`${a.processor}: ${a.summary} [${a.verdict}]`];
  for (const s of a.steps) lines.push(`  ${s.check}: ${s.figure} -> ${s.outcome}`);
  if (a.verdict !== "insufficient-history") {
    lines.push(
      `  weekly rework without checkpoints: ${time(f.weeklyReworkMs)} ` +
        `(failure rate x progress at failure x duration x ${round(f.weeklyRuns)} runs/week)`,
      `  checkpoint overhead: ${f.overhead === null ? "-" : `${(f.overhead * 100).toFixed(2)}%`}, ` +
        `${time(f.weeklyOverheadMs)} a week`,
      `  net weekly saving with checkpoints: ${f.weeklyNetSavingMs === null ? "-" : signed(f.weeklyNetSavingMs)}`,
    );
  }
  if (f.recommendedBatchSize !== null) {
    lines.push(
      `  batch size: ${f.recommendedBatchSize} recommended for ~1% overhead ` +
        `(commit ${f.commitLatencyMs?.toFixed(1)} ms, ${f.perEntityMs?.toFixed(2)} ms/entity, ` +
        `now ${round(f.currentBatchSize ?? 0)})`,
    );
  }
  if (a.overheadWarning) lines.push(`  ! ${a.overheadWarning}`);
  if (a.stallWarning) lines.push(`  ! ${a.stallWarning}`);
  return `${lines.join("\n")}\n`;
}

function signed(ms: number): string {
  return `${ms < 0 ? "-" : ""}${formatDuration(Math.abs(ms))}`;
}

function round(n: number): string {
  return String(Math.round(n * 10) / 10);
}
