import { readFileSync } from "node:fs";
import { basename } from "node:path";
import type { Command } from "commander";
import { InvalidOptionError } from "../../core/errors.js";
import type { ReportStore } from "../../core/store/report-store.js";
import type { Advice } from "../../reports/advise.js";
import { adviseJobLog, adviseStated, type StatedFigures } from "../../reports/advise-before.js";
import { pct } from "../../reports/decision-tree.js";
import { differenceTexts, durationText } from "../../reports/duration-text.js";
import { parseJobLog } from "../../reports/job-log.js";
import { loadAdvice } from "../../reports/load.js";
import { parseDuration } from "../duration.js";
import { EXIT } from "../exit-codes.js";
import {
  CliError,
  printJson,
  type StoreCommandOptions,
  usingStore,
  withStoreOptions,
} from "../shared.js";
import { parseColumns, parseWhatIf, requireStated } from "../what-if.js";

interface AdviseCommandOptions extends StoreCommandOptions {
  weeklyRuns?: string;
  since: string;
  processor?: string;
  runs?: string;
  columns?: string;
  whatIf?: string;
}

/**
 * `waymark advise [PROCESSOR]`: retry or checkpoint, decided from recorded history, from a
 * job log (`--runs FILE`), or from stated figures (`--what-if`).
 */
export function registerAdvise(program: Command): void {
  withStoreOptions(
    program
      .command("advise")
      .description("should a processor checkpoint? the decision tree and ROI from run history")
      .argument("[processor]", "only this processor")
      .option("--weekly-runs <n>", "runs per week for the ROI figures (default: measured)")
      .option("--since <duration>", "window of run history, e.g. 30d", "30d")
      .option("--processor <name>", "only this processor (same as the argument)")
      .option("--runs <file>", "decide from a job log (CSV or NDJSON) instead of waymark's history")
      .option("--columns <map>", "the job log's columns: start=…,end=…,outcome=…, or a preset")
      .option(
        "--what-if <figures>",
        "decide from figures: duration=30m,failure-rate=10%,fail-at=66%,weekly-runs=50,overhead=0.5%",
      ),
  )
    .addHelpText(
      "after",
      `
Before adopting waymark, decide from a job log or from stated figures:
  waymark advise --runs jobs.csv              (columns start, end or duration, outcome, progress)
  waymark advise --runs jobs.ndjson --columns kubernetes   (or cloud-run)
  waymark advise --what-if duration=30m,failure-rate=10%,fail-at=66%,weekly-runs=50`,
    )
    .action(async (argument: string | undefined, options: AdviseCommandOptions) => {
      const windowMs = parseDuration(options.since, "--since");
      const weeklyRuns = weeklyRunsOf(options.weeklyRuns);
      const processor = argument ?? options.processor;
      const stated = {
        ...(weeklyRuns === undefined ? {} : { weeklyRuns }),
        ...(options.whatIf === undefined ? {} : parseWhatIf(options.whatIf)),
      };
      if (options.runs !== undefined || options.whatIf !== undefined) {
        const advice =
          options.runs === undefined
            ? adviseStated(processor ?? "what-if", requireStated(stated))
            : fromJobLog(options.runs, processor, parseColumns(options.columns), stated);
        if (options.json) return printJson([advice]);
        process.stdout.write(formatAdvice(advice));
        return;
      }
      await usingStore(
        options.store,
        async (store) => {
          const now = Date.now();
          const since = now - windowMs;
          const advice = await loadAdvice(store, {
            now,
            windowMs,
            ...(weeklyRuns === undefined ? {} : { weeklyRuns }),
            ...(processor === undefined ? {} : { processor }),
          });
          if (processor !== undefined && advice[0]?.figures.finishedRuns === 0) {
            await refuseNoHistory(store, processor, since, options.since);
          }
          if (options.json) return printJson(advice);
          if (advice.length === 0) {
            process.stdout.write(`No runs recorded since ${new Date(since).toISOString()}.\n`);
            return;
          }
          process.stdout.write(`${advice.map(formatAdvice).join("\n")}`);
        },
        "read",
      );
    });
}

function weeklyRunsOf(value: string | undefined): number | undefined {
  const weeklyRuns = value === undefined ? undefined : Number(value);
  if (weeklyRuns !== undefined && !(Number.isFinite(weeklyRuns) && weeklyRuns > 0)) {
    throw new InvalidOptionError(
      "--weekly-runs",
      `Invalid --weekly-runs ${JSON.stringify(value)}: expected a positive number, e.g. 7.`,
    );
  }
  return weeklyRuns;
}

/** The advice from a job log file, named after the processor asked for or the file. */
function fromJobLog(
  file: string,
  processor: string | undefined,
  columns: ReturnType<typeof parseColumns>,
  stated: StatedFigures,
): Advice {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new CliError(`Cannot read --runs ${file}: ${(error as Error).message}`, EXIT.usage);
  }
  const { runs, unfinished } = parseJobLog(text, file, columns);
  if (runs.length === 0) {
    throw new CliError(`--runs ${file} holds no finished run to decide from.`, EXIT.usage);
  }
  return adviseJobLog(processor ?? basename(file), runs, { ...stated, unfinished });
}

/**
 * A processor named without runs in the window: a typo, or one that never ran here. Either
 * way there is nothing to advise from: say which processors have history, and exit 1.
 */
async function refuseNoHistory(
  store: ReportStore,
  processor: string,
  since: number,
  window: string,
): Promise<never> {
  const names = [...new Set((await store.listRuns({ since })).map((r) => r.processor))].sort();
  const others =
    names.length === 0
      ? "No processor has run history in that window."
      : `Processors with history: ${names.join(", ")}.`;
  throw new CliError(
    `No runs of "${processor}" recorded since ${new Date(since).toISOString()} ` +
      `(--since ${window}). ${others} Before adopting waymark, decide from a job log ` +
      "(--runs FILE) or stated figures (--what-if).",
    EXIT.failure,
  );
}

/** The advice as readable text: verdict, the branches with their figures, the ROI. */
export function formatAdvice(a: Advice): string {
  const f = a.figures;
  const lines = [`${a.processor}: ${a.summary} [${a.verdict}]`];
  for (const s of a.steps) lines.push(`  ${s.check}: ${s.figure} -> ${s.outcome}`);
  if (a.verdict !== "insufficient-history") lines.push(...weeklyLines(f));
  if (f.recommendedBatchSize !== null) {
    lines.push(
      `  batch size: ${f.recommendedBatchSize} recommended for ~1% overhead ` +
        `(commit ${f.commitLatencyMs?.toFixed(1)} ms, ${f.perEntityMs?.toFixed(2)} ms/entity, ` +
        `now ${f.currentBatchSize ?? "-"})`,
    );
  } else if (f.batchSizeRange !== null) {
    const row = f.batchSizeRange;
    lines.push(
      `  batch size: ${row.min}-${row.max} entities, from the table for runs of ${row.runs} ` +
        "(or batchSize: { adaptive })",
    );
  }
  for (const note of a.notes) lines.push(`  note: ${note}`);
  if (a.overheadWarning) lines.push(`  ! ${a.overheadWarning}`);
  if (a.stallWarning) lines.push(`  ! ${a.stallWarning}`);
  return `${lines.join("\n")}\n`;
}

/** Weekly waste without and with checkpoints and the saving, rounded so that they add up. */
function weeklyLines(f: Advice["figures"]): string[] {
  const runs = `${round(f.weeklyRuns)} runs/week`;
  const duration = f.typicalDurationMs === null ? "-" : durationText(f.typicalDurationMs);
  const overhead = f.overhead === null ? "-" : `${(f.overhead * 100).toFixed(2)}%`;
  const withoutHow =
    f.weeklyFailures === null || f.avgProgressAtFailure === null
      ? "failure rate x progress at failure x duration x runs/week"
      : `${round(f.weeklyFailures)} failures/week x ${pct(f.avgProgressAtFailure)} of ${duration}`;
  const withHow = `${overhead} overhead x ${duration} x ${runs}`;
  if (f.weeklyReworkMs === null || f.weeklyOverheadMs === null) {
    const time = (ms: number | null) => (ms === null ? "-" : durationText(ms));
    return [
      `  weekly waste without checkpoints: ${time(f.weeklyReworkMs)} (${withoutHow})`,
      `  weekly waste with checkpoints: ${time(f.weeklyOverheadMs)} (${withHow})`,
      "  net weekly saving with checkpoints: -",
    ];
  }
  const [without, withCheckpoints, net] = differenceTexts(f.weeklyReworkMs, f.weeklyOverheadMs);
  return [
    `  weekly waste without checkpoints: ${without} (${withoutHow})`,
    `  weekly waste with checkpoints: ${withCheckpoints} (${withHow})`,
    `  net weekly saving with checkpoints: ${net}`,
  ];
}

function round(n: number): string {
  return String(Math.round(n * 10) / 10);
}
