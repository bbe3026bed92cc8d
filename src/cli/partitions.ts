import { partitionSchema } from "../core/run-options.js";
import { dayRange } from "./day-range.js";
import { parseDuration } from "./duration.js";
import { EXIT } from "./exit-codes.js";
import { CliError } from "./shared.js";

/** The flags that say which partitions a command covers. */
export interface PartitionFlags {
  partition?: string;
  partitions?: string;
  from?: string;
  to?: string;
  step?: string;
}

const DAY_MS = 86_400_000;

/**
 * The partitions of `--partition P`, `--partitions a,b,c` or `--from D --to D [--step 7d]`
 * (days, both ends included). Exactly one of the forms; anything else is a usage error that
 * names the flags. `single: false` for a command without `--partition`.
 */
export function partitionsOf(flags: PartitionFlags, options: { single?: boolean } = {}): string[] {
  const forms = [flags.partition, flags.partitions, flags.from ?? flags.to].filter(
    (v) => v !== undefined,
  );
  if (forms.length !== 1) {
    throw new CliError(
      forms.length === 0
        ? `Say which partitions: ${options.single === false ? "" : "--partition P, "}` +
            "--partitions a,b,c, or --from 2024-01-01 --to 2024-01-31."
        : "Pass one of --partition, --partitions or --from/--to, not several.",
      EXIT.usage,
    );
  }
  if (flags.step !== undefined && flags.from === undefined) {
    throw new CliError("--step goes with --from/--to, e.g. --step 7d.", EXIT.usage);
  }
  if (flags.partition !== undefined) return [checked(flags.partition, "--partition")];
  if (flags.partitions !== undefined) {
    // Not trimmed: a name with surrounding spaces is refused here as by --partition.
    const list = flags.partitions.split(",").filter((p) => p !== "");
    if (list.length === 0) {
      throw new CliError("--partitions is empty; pass e.g. --partitions a,b,c.", EXIT.usage);
    }
    return [...new Set(list.map((p) => checked(p, "--partitions")))];
  }
  if (flags.from === undefined || flags.to === undefined) {
    throw new CliError(
      `--${flags.from === undefined ? "to" : "from"} needs --${flags.from === undefined ? "from" : "to"} too, e.g. --from 2024-01-01 --to 2024-01-31.`,
      EXIT.usage,
    );
  }
  const every = flags.step === undefined ? 1 : stepDays(flags.step);
  return dayRange(flags.from, flags.to).filter((_, i) => i % every === 0);
}

/** A partition as every run takes it, checked before any store is opened. */
function checked(partition: string, flag: string): string {
  const result = partitionSchema.safeParse(partition);
  if (!result.success) {
    const why = result.error.issues[0]?.message ?? "not a partition";
    throw new CliError(`${flag} ${JSON.stringify(partition)}: ${why}.`, EXIT.usage);
  }
  return partition;
}

/** `--step 7d` as a whole number of days. */
function stepDays(value: string): number {
  const ms = parseDuration(value, "--step");
  if (ms % DAY_MS !== 0) {
    throw new CliError(
      `--step ${value} is not a whole number of days; partitions are days, e.g. --step 1d or 7d.`,
      EXIT.usage,
    );
  }
  return ms / DAY_MS;
}
