import { type Command, InvalidArgumentError, Option } from "commander";
import type { SplitRecord } from "../../core/store/records.js";
import type { RecordedRunStatus } from "../../core/types.js";
import { loadCorrupt, loadRuns, loadSplits } from "../../reports/load.js";
import type { RunningState } from "../../reports/reached.js";
import type { RunView } from "../../reports/runs.js";
import { EXIT } from "../exit-codes.js";
import {
  CliError,
  failOnCorrupt,
  formatDuration,
  printJson,
  printTable,
  type StoreCommandOptions,
  usingStore,
  withStoreOptions,
} from "../shared.js";

const STATUSES: readonly RecordedRunStatus[] = [
  "running",
  "completed",
  "suspended",
  "failed",
  "busy",
  "skipped",
];

interface RunsOptions extends StoreCommandOptions {
  processor?: string;
  partition?: string;
  shard?: string;
  status?: RecordedRunStatus;
  limit: number;
  run?: string;
  splits?: boolean;
}

/** `waymark runs`: recent run history, newest first. */
export function registerRuns(program: Command): void {
  withStoreOptions(
    program
      .command("runs")
      .description("show recent run history: outcome, work done, resumes and checkpoint cost")
      .option("--processor <name>", "only this processor")
      .option("--partition <partition>", "only this partition")
      .option("--shard <id>", "only this shard of the partition")
      .addOption(new Option("--status <status>", "only runs that ended so").choices(STATUSES))
      .option("--run <id>", "only the run (or redrive) with this id")
      .option("--limit <n>", "how many runs (or splits) to show, newest first", parseLimit, 20)
      .option(
        "--splits",
        "show the splits of running partitions instead: when, at which cursor, the shard " +
          "each made, who asked and which run split",
      ),
  ).action(async (options: RunsOptions) => {
    if (options.splits) return showSplits(options);
    await usingStore(
      options.store,
      async (store) => {
        const [runs, corrupt] = await Promise.all([
          loadRuns(store, {
            processor: options.processor,
            partition: options.partition,
            shard: options.shard,
            status: options.status,
            limit: options.limit,
            runId: options.run,
          }),
          loadCorrupt(store, { processor: options.processor }),
        ]);
        if (options.json) printJson(runs);
        else printTable(runs.map(toRow), COLUMNS, "No runs recorded.");
        // A run on a corrupt checkpoint is shown at what history recorded; the row is flagged.
        failOnCorrupt(
          corrupt.filter(
            (c) =>
              (options.partition === undefined || c.partition === options.partition) &&
              (options.shard === undefined || c.shard === options.shard),
          ),
        );
      },
      "read",
    );
  });
}

const COLUMNS = [
  ["started", "STARTED (UTC)"],
  ["processor", "PROCESSOR"],
  ["partition", "PARTITION"],
  ["shard", "SHARD"],
  ["status", "STATUS"],
  ["processed", "PROCESSED"],
  ["resumedFrom", "RESUMED FROM"],
  ["duration", "DURATION"],
  ["checkpointMs", "CHECKPOINT MS"],
  ["error", "ERROR"],
] as const;

/** How a run still marked `running` reads: in flight, or what became of its process. */
const RUNNING: Record<RunningState, string> = {
  live: "running",
  "lease-expired": "running (lease expired: dead?)",
  "taken-over": "running (dead: taken over)",
  "checkpoint-gone": "running (dead: checkpoint gone)",
};

function toRow(run: RunView): Record<string, string> {
  const duration = run.durationMs;
  const status = run.running ? RUNNING[run.running] : run.status;
  return {
    started: utc(run.startedAt),
    processor: run.processor,
    partition: run.partition,
    shard: run.shard,
    status: `${run.kind === "redrive" ? "redrive " : ""}${run.reason ? `${status} (${run.reason})` : status}`,
    processed:
      (run.total === null ? `${run.processed}` : `${run.processed} of ${run.total}`) +
      (run.skipped ? ` (${run.skipped} skipped)` : ""),
    resumedFrom: run.resumedFrom === null ? "-" : String(run.resumedFrom),
    duration: duration === null ? "-" : formatDuration(duration),
    checkpointMs: run.checkpointMs.toFixed(1),
    error: shorten(run.error ?? "", 60),
  };
}

/** `waymark runs --splits`: split history, newest first. */
async function showSplits(options: RunsOptions): Promise<void> {
  const refused = (["shard", "status", "run"] as const).find((o) => options[o] !== undefined);
  if (refused) {
    throw new CliError(
      `--splits lists splits by --processor, --partition and --limit; --${refused} filters ` +
        "runs. Leave one of them out.",
      EXIT.usage,
    );
  }
  await usingStore(
    options.store,
    async (store) => {
      const splits = await loadSplits(store, {
        processor: options.processor,
        partition: options.partition,
        limit: options.limit,
      });
      if (options.json) printJson(splits);
      else printTable(splits.map(toSplitRow), SPLIT_COLUMNS, "No splits recorded.");
    },
    "read",
  );
}

const SPLIT_COLUMNS = [
  ["splitAt", "SPLIT AT (UTC)"],
  ["processor", "PROCESSOR"],
  ["partition", "PARTITION"],
  ["shard", "SHARD"],
  ["at", "AT CURSOR"],
  ["newShard", "NEW SHARD"],
  ["requestedBy", "REQUESTED BY"],
  ["runId", "SPLIT BY RUN"],
] as const;

function toSplitRow(split: SplitRecord): Record<string, string> {
  return {
    splitAt: utc(split.splitAt),
    processor: split.processor,
    partition: split.partition,
    shard: split.shard,
    at: JSON.stringify(split.at),
    newShard: split.newShard,
    requestedBy: split.requestedBy ?? "-",
    runId: split.runId,
  };
}

/** A time as `2024-06-01 06:00:00`, UTC. */
function utc(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace("T", " ");
}

/** The first line of an error, cut to `max` characters so the table stays readable. */
function shorten(text: string, max: number): string {
  const line = text.split("\n")[0] ?? "";
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new InvalidArgumentError(`expected a whole number from 1 up, e.g. 20; got "${value}".`);
  }
  return n;
}
