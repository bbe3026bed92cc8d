import type { Command } from "commander";
import { consoleLogger, silentLogger } from "../../core/logger.js";
import { onStopSignal } from "../../core/policies/process-signals.js";
import { DEFAULT_DEADLINE_MARGIN_MS } from "../../core/run-options.js";
import { runPartitions } from "../../core/run-partitions.js";
import type { PartitionOutcome } from "../../core/run-partitions-options.js";
import type { Logger } from "../../core/types.js";
import { parseDuration } from "../duration.js";
import { EXIT } from "../exit-codes.js";
import { pickProcessor } from "../load-processors.js";
import { type PartitionFlags, partitionsOf } from "../partitions.js";
import { describeSummary, exitCodeFor, JsonLines } from "../run-report.js";
import { refuseShardWith, runShard } from "../run-shard.js";
import {
  CliError,
  positiveInteger,
  type StoreCommandOptions,
  usingStore,
  withStoreOptions,
} from "../shared.js";

interface RunCommandOptions extends StoreCommandOptions, PartitionFlags {
  shard?: string;
  concurrency: string;
  timeBudget?: string;
  deadline?: string;
  rerunCompleted?: boolean;
  quiet?: boolean;
}

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * `waymark run MODULE [PROCESSOR]`: runs one of your processors on a partition, a list of
 * them or a range of days, with exit codes for cron, Cloud Run Jobs and Kubernetes Jobs.
 */
export function registerRun(program: Command): void {
  withStoreOptions(
    program
      .command("run")
      .description("run a processor of yours on a partition (or one shard of it), or backfill many")
      .argument("<module>", "a .js/.mjs module, or a .ts one (loaded through tsx)")
      .argument("[processor]", "which processor, when the module exports several")
      .option("--partition <partition>", "run one partition")
      .option(
        "--shard <id>",
        "with --partition: run only this shard of it, a static one or one split off (~…)",
      )
      .option("--partitions <list>", "run these partitions, e.g. a,b,c")
      .option("--from <date>", "first day of a range of partitions, YYYY-MM-DD")
      .option("--to <date>", "last day of the range (included), YYYY-MM-DD")
      .option("--step <days>", "days between two partitions of the range, e.g. 7d", undefined)
      .option("--concurrency <n>", "partitions run at once, 1 to 256", "1")
      .option("--time-budget <duration>", "stop at a batch boundary after this long, e.g. 55m")
      .option(
        "--deadline <iso>",
        "stop at a batch boundary before this time, e.g. 2024-06-01T06:00:00Z",
      )
      .option("--rerun-completed", "redo partitions this backfill already completed")
      .option("--quiet", "print only warnings, errors and what did not complete"),
    "print one JSON object per line: run-started, progress, run-finished, summary",
  )
    .addHelpText(
      "after",
      `
Exit codes: 0 every partition completed (or was skipped), 1 a partition failed,
75 a partition was suspended or busy (run the same command again), 2 bad usage,
3 the store cannot be opened. SIGTERM or Ctrl-C stops every run at its batch
boundary (exit 75); a second one exits at once.

Examples:
  waymark run dist/jobs.js --partition 2024-01-15
  waymark run jobs.ts summaries --from 2024-01-01 --to 2024-12-31 --concurrency 8
  waymark run jobs.ts --partitions eu,us,apac --time-budget 55m --json
  waymark run jobs.ts summaries --partition 2024-01-15 --shard 1`,
    )
    .action(async (module: string, name: string | undefined, options: RunCommandOptions) => {
      const partitions = partitionsOf(options);
      if (options.shard !== undefined) refuseShardWith(options);
      const concurrency = positiveInteger(options.concurrency, "--concurrency", "e.g. 4", 256);
      const timeBudgetMs =
        options.timeBudget === undefined
          ? undefined
          : parseDuration(options.timeBudget, "--time-budget");
      const deadline = options.deadline === undefined ? undefined : parseDeadline(options.deadline);
      refuseNoTime(timeBudgetMs, deadline);
      const processor = await pickProcessor(module, name);
      const json = options.json ? new JsonLines((line) => process.stdout.write(line)) : null;
      const stopSignals = stopOnSignals(options.quiet || json ? null : processor.name);
      try {
        await usingStore(options.store, async (store) => {
          const common = {
            store,
            handleSignals: true,
            ...(timeBudgetMs === undefined ? {} : { timeBudgetMs }),
            ...(deadline === undefined ? {} : { deadline }),
            ...(options.quiet ? { logger: quietLogger() } : {}),
            // Bars or Progress: lines on stderr, unless stdout is for machines or told to hush.
            progress: !json && !options.quiet,
            ...(json ? { metrics: json.metrics, onProgress: json.progress } : {}),
          };
          const onRunFinished = json
            ? (outcome: PartitionOutcome) => json.runFinished(processor.name, outcome)
            : undefined;
          const shard = options.shard;
          const result =
            shard === undefined
              ? await runPartitions(processor, {
                  ...common,
                  partitions,
                  concurrency,
                  rerunCompleted: options.rerunCompleted ?? false,
                  ...(onRunFinished ? { onRunFinished } : {}),
                })
              : await runShard(
                  processor,
                  { ...common, partition: partitions[0] as string, shard },
                  onRunFinished,
                );
          if (json) json.summary(processor.name, result);
          else if (!options.quiet || result.status !== "completed") {
            process.stdout.write(describeSummary(processor.name, result));
          }
          process.exitCode = exitCodeFor(result);
        });
      } finally {
        stopSignals();
      }
      // The summary is out and the store closed. What the user's module left running (a pool
      // it opened, a timer of a batch abandoned at the deadline) must not hold the exit.
      await exitAfterOutput(Number(process.exitCode ?? EXIT.ok));
    });
}

/** Exits with `code` once stdout and stderr have taken everything written to them. */
async function exitAfterOutput(code: number): Promise<never> {
  await Promise.all(
    [process.stdout, process.stderr].map(
      (stream) => new Promise<void>((resolve) => stream.write("", () => resolve())),
    ),
  );
  process.exit(code);
}

/**
 * The first SIGTERM/SIGINT is the runs' to handle (stop at a batch boundary, exit 75); this
 * says so, and a second one ends the process at once with the conventional code.
 */
function stopOnSignals(announceFor: string | null): () => void {
  let received = 0;
  return onStopSignal((signal) => {
    received++;
    if (received > 1) {
      process.stderr.write(`waymark run: ${signal} again, exiting without waiting.\n`);
      process.exit(SIGNAL_EXIT[signal] ?? EXIT.failure);
    }
    if (announceFor) {
      process.stderr.write(
        `waymark run: ${signal}, stopping ${announceFor} at the next batch boundary ` +
          "(again to exit at once).\n",
      );
    }
  });
}

/** Warnings and errors only, as the default logger writes them (naming their run). */
function quietLogger(base: Logger = consoleLogger): Logger {
  return {
    ...silentLogger,
    warn: base.warn,
    error: base.error,
    child: (fields) => quietLogger(base.child ? base.child(fields) : base),
  };
}

/**
 * A budget or deadline that leaves no time past the margin each run keeps before it would
 * suspend every run before its first batch, on every invocation: a usage error, not exit 75.
 */
function refuseNoTime(timeBudgetMs: number | undefined, deadline: Date | undefined): void {
  const margin = `${DEFAULT_DEADLINE_MARGIN_MS / 1000} s`;
  if (timeBudgetMs !== undefined && timeBudgetMs <= DEFAULT_DEADLINE_MARGIN_MS) {
    throw new CliError(
      `--time-budget ${timeBudgetMs} ms leaves no time: a run stops ${margin} before its ` +
        "deadline to finish its batch, so every run would suspend before starting. A bare " +
        "number is milliseconds; pass e.g. 55m.",
      EXIT.usage,
    );
  }
  if (deadline !== undefined && deadline.getTime() <= Date.now() + DEFAULT_DEADLINE_MARGIN_MS) {
    throw new CliError(
      `--deadline ${deadline.toISOString()} has passed (or is less than ${margin} away), so ` +
        "every run would stop before its first batch; pass a later time.",
      EXIT.usage,
    );
  }
}

function parseDeadline(value: string): Date {
  const at = /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(at)) {
    throw new CliError(
      `--deadline expects an ISO date and time, got ${JSON.stringify(value)}; ` +
        "e.g. 2024-06-01T06:00:00Z.",
      EXIT.usage,
    );
  }
  return new Date(at);
}
