import type { Processor } from "../core/processor.js";
import { run } from "../core/run.js";
import type { RunOptions } from "../core/run-options.js";
import {
  emptyCounts,
  overallStatus,
  type PartitionOutcome,
  type PartitionsResult,
} from "../core/run-partitions-options.js";
import { EXIT } from "./exit-codes.js";
import { CliError } from "./shared.js";

/**
 * `waymark run --partition P --shard ID`: one shard of a partition, a static one (`shards()`)
 * or one split off a running one (`~…`, as `status` and `runs --splits` name it), run as
 * `run(processor, { partition, shard })` runs it, and summed up as a backfill of that one
 * shard, so that the summary, `--json` and the exit code read as for any `waymark run`.
 */
export async function runShard(
  processor: Processor,
  options: RunOptions & { partition: string; shard: string },
  onRunFinished?: (outcome: PartitionOutcome) => void,
): Promise<PartitionsResult> {
  const result = await run(processor, options);
  const outcome = {
    partition: options.partition,
    shard: options.shard,
    status: result.status,
    result,
  };
  onRunFinished?.(outcome);
  const counts = emptyCounts();
  counts[result.status]++;
  return {
    status: overallStatus(counts),
    partitions: [outcome],
    counts,
    processed: result.processed,
    skipped: result.skipped,
    durationMs: result.durationMs,
  };
}

/** `--shard` names one shard of one partition, run alone: the flags of a backfill do not fit. */
export function refuseShardWith(flags: {
  partition?: string;
  partitions?: string;
  from?: string;
  concurrency: string;
  rerunCompleted?: boolean;
}): void {
  const problem =
    flags.partition === undefined
      ? "--shard goes with --partition P: it names a shard of one partition"
      : flags.concurrency !== "1"
        ? "--shard runs one shard; --concurrency has nothing to run at once"
        : flags.rerunCompleted
          ? "--shard runs its shard whether or not it completed; leave out --rerun-completed"
          : null;
  if (problem) throw new CliError(`${problem}.`, EXIT.usage);
}
