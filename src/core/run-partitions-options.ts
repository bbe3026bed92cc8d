import { z } from "zod";
import type { RunOptions, RunProgress } from "./run-options.js";
import { partitionSchema } from "./run-options.js";
import type { RunResult } from "./run-result.js";
import type { Logger, RunStatus } from "./types.js";
import { fn, integerFrom, parseOptions } from "./validate.js";

/**
 * What became of one partition (or one shard of it) in `runPartitions`:
 * - a run's status (`completed`, `suspended`, `failed`, `busy`, `skipped`);
 * - `already-completed`: it completed earlier in this backfill, so it was not run again;
 * - `not-started`: the backfill stopped (signal, deadline) before its turn came.
 */
export type PartitionStatus = RunStatus | "already-completed" | "not-started";

/** One partition's (or shard's) line of a {@link PartitionsResult}. */
export interface PartitionOutcome {
  readonly partition: string;
  /** The shard, when the processor defines `shards`. */
  readonly shard?: string | number;
  readonly status: PartitionStatus;
  /** The run's result; null when it did not run (`already-completed`, `not-started`). */
  readonly result: RunResult | null;
  /** For one completed by another run of the backfill: when, and by which run (if recorded). */
  readonly completedAt?: number;
  readonly completedBy?: string | null;
}

/** A unit another runner held when this process stopped: who, and until when. */
export interface HeldUnit {
  readonly partition: string;
  readonly shard?: string | number;
  readonly owner: string;
  /** When the holder's lease expires unless renewed (epoch ms): a dead holder's ends then. */
  readonly expiresAt: number;
}

/** The backfill a `runPartitions` call took part in. */
export interface BackfillSummary {
  /** When it began (by the store's clock): completions since then count for it. */
  readonly startedAt: number;
  /** When it finished, once every partition completed; else null. */
  readonly finishedAt: number | null;
  /** Found finished when the call began: it ran nothing. */
  readonly alreadyFinished: boolean;
  /** For one found finished: the runs that did it. */
  readonly runs: number | null;
}

/** What `runPartitions` resolves to. */
export interface PartitionsResult {
  /**
   * `completed` when every partition completed or was skipped, `failed` when any failed,
   * otherwise `suspended` (some suspended, busy or not started: run the same call again).
   */
  readonly status: "completed" | "failed" | "suspended";
  /** One outcome per partition (per shard for a sharded processor), in the order given. */
  readonly partitions: readonly PartitionOutcome[];
  /** How many outcomes have each status. */
  readonly counts: Readonly<Record<PartitionStatus, number>>;
  /** Entities processed by this call's runs. */
  readonly processed: number;
  /** Entities this call's runs skipped to the failure ledger (`waymark failures`). */
  readonly skipped: number;
  readonly durationMs: number;
  /** The backfill, when the store keeps backfill records. */
  readonly backfill?: BackfillSummary;
  /** Units other runners held when this call stopped with work left. */
  readonly waiting?: readonly HeldUnit[];
}

/** Options of `runPartitions`: those of `run` for every partition, and how to go through them. */
export interface RunPartitionsOptions<Tx = unknown>
  extends Omit<RunOptions<Tx>, "partition" | "shard"> {
  /** The partitions to run, e.g. the days of a backfill. Each is run once, in this order. */
  partitions: readonly string[];
  /** Partitions run at once in this process. @default 1 */
  concurrency?: number;
  /**
   * Run partitions that completed earlier in the same backfill again (the backfill starts
   * over). @default false: a rerun of an unfinished backfill skips them
   */
  rerunCompleted?: boolean;
  /** Called as each partition's run ends, with its outcome (progress displays, scripts). */
  onRunFinished?: (outcome: PartitionOutcome) => void;
  /**
   * How often a runner of the backfill looks for work when it has none (shards split off,
   * partitions released, the backfill done), and how often a running partition looks for a
   * split request; a quarter of it while a split is being answered. @default 250
   */
  pollIntervalMs?: number;
}

/** {@link RunPartitionsOptions} validated, with defaults filled in and the run options apart. */
export interface ResolvedPartitionsOptions {
  readonly partitions: readonly string[];
  readonly concurrency: number;
  readonly rerunCompleted: boolean;
  readonly onRunFinished: ((outcome: PartitionOutcome) => void) | undefined;
  readonly pollIntervalMs: number;
  /** What each run gets, but its partition. */
  readonly run: Omit<RunOptions, "partition" | "shard">;
}

const CONCURRENCY_FIX = "pass how many partitions may run at once, e.g. 4";

const partitionsSchema = z
  .object({
    partitions: z
      .array(partitionSchema, { error: 'expected an array of partitions, e.g. ["2024-01-15"]' })
      .min(1, { error: 'expected at least one partition, e.g. ["2024-01-15"]' })
      .superRefine((list, ctx) => {
        const repeated = list.find((partition, i) => list.indexOf(partition) !== i);
        if (repeated !== undefined) {
          ctx.addIssue({
            code: "custom",
            message: `expected each partition once; ${JSON.stringify(repeated)} is repeated`,
          });
        }
      }),
    concurrency: integerFrom(1, CONCURRENCY_FIX)
      .max(256, { error: `expected at most 256; ${CONCURRENCY_FIX}` })
      .optional(),
    rerunCompleted: z.boolean({ error: "expected true or false" }).optional(),
    onRunFinished: fn("expected a function (outcome) => void").optional(),
    pollIntervalMs: integerFrom(10, "pass milliseconds, e.g. 500")
      .max(60_000, { error: "expected at most 60000; pass milliseconds, e.g. 500" })
      .optional(),
    // `run`'s single-partition options have no meaning here; saying so beats ignoring them.
    partition: z
      .undefined({ error: 'runPartitions takes `partitions`, e.g. ["2024-01-15"]' })
      .optional(),
    shard: z
      .undefined({ error: "runPartitions runs every shard of a sharded processor; leave it out" })
      .optional(),
  })
  .loose();

/**
 * Validates `runPartitions`'s own options; the rest are `run`'s, validated by the caller with
 * `resolveRunOptions`. Throws an `InvalidOptionError` naming the option and the fix.
 */
export function resolvePartitionsOptions(input: RunPartitionsOptions): ResolvedPartitionsOptions {
  parseOptions(partitionsSchema, input, "runPartitions");
  const { partitions, concurrency, rerunCompleted, onRunFinished, pollIntervalMs, ...run } = input;
  return Object.freeze({
    partitions: Object.freeze([...partitions]),
    concurrency: concurrency ?? 1,
    rerunCompleted: rerunCompleted ?? false,
    onRunFinished,
    pollIntervalMs: pollIntervalMs ?? 250,
    run,
  });
}

/** The overall status of a set of outcomes: failed beats suspended beats completed. */
export function overallStatus(
  counts: Readonly<Record<PartitionStatus, number>>,
): PartitionsResult["status"] {
  if (counts.failed > 0) return "failed";
  if (counts.suspended + counts.busy + counts["not-started"] > 0) return "suspended";
  return "completed";
}

/** A count of zero for every status. */
export function emptyCounts(): Record<PartitionStatus, number> {
  return {
    completed: 0,
    "already-completed": 0,
    skipped: 0,
    suspended: 0,
    busy: 0,
    failed: 0,
    "not-started": 0,
  };
}

/** One run of a backfill: a partition, or one shard of it. */
export interface PartitionUnit {
  readonly partition: string;
  readonly shard?: string | number;
}

/** What a display of many partitions receives (see partitions-progress.ts). */
export interface PartitionsDisplay {
  runStarted(unit: PartitionUnit): void;
  onProgress(unit: PartitionUnit, progress: RunProgress): void;
  runFinished(outcome: PartitionOutcome): void;
  finish(): void;
  /** Where log lines go while bars are drawn (above them), when the display draws bars. */
  readonly logger?: Logger;
}

/** The label of a unit in logs and progress: `2024-01-15` or `2024-01-15 shard 0`. */
export function unitLabel(unit: PartitionUnit): string {
  return unit.shard === undefined ? unit.partition : `${unit.partition} shard ${unit.shard}`;
}

/**
 * `28 completed, 1 failed (failed: 2024-01-05: quota exceeded), 2 not started`; without the
 * failures' errors when `failures` is false.
 */
export function describeCounts(
  result: PartitionsResult,
  options: { readonly failures?: boolean } = {},
): string {
  const parts: string[] = [];
  for (const [status, count] of Object.entries(result.counts)) {
    if (count > 0) parts.push(`${count} ${status.replace("-", " ")}`);
  }
  const counts = parts.join(", ");
  if (options.failures === false) return counts;
  const failures = result.partitions
    .filter((o) => o.status === "failed")
    .map((o) => `${unitLabel(o)}: ${o.result?.error?.message ?? "failed"}`);
  if (failures.length === 0) return counts;
  const more = failures.length > 5 ? `; and ${failures.length - 5} more` : "";
  return `${counts} (failed: ${failures.slice(0, 5).join("; ")}${more})`;
}
