import type { Command } from "commander";
import { describeKey } from "../../core/checkpoint-key.js";
import { loadCorrupt, loadStatus } from "../../reports/load.js";
import { formatLimit, loadQuotas, type QuotaStatusRow } from "../../reports/quotas.js";
import type { RolledStatusRow } from "../../reports/shard-rollup.js";
import type { StatusRow } from "../../reports/status.js";
import { formatRate } from "../duration.js";
import {
  failOnCorrupt,
  formatDuration,
  printJson,
  printTable,
  type StoreCommandOptions,
  usingStore,
  withStoreOptions,
} from "../shared.js";

/**
 * `waymark status`: the checkpoints in flight, with progress, rate, ETA and age, then the
 * quotas: limit, rate used, pause and waiting runners.
 */
export function registerStatus(program: Command): void {
  withStoreOptions(
    program
      .command("status")
      .description(
        "list active checkpoints: progress, rate, ETA, age, lease holder, resumes; a sharded " +
          "or split partition's progress over its whole range, then each of its shards; why a " +
          "partition asked to split was not; then each quota: its limit, the rate used over " +
          "the last minute, its pause and the runners waiting",
      )
      .option("--processor <name>", "only this processor"),
  ).action(async (options: StoreCommandOptions & { processor?: string }) => {
    await usingStore(
      options.store,
      async (store) => {
        const [rows, corrupt, quotas] = await Promise.all([
          loadStatus(store, { processor: options.processor }),
          loadCorrupt(store, { processor: options.processor }),
          loadQuotas(store),
        ]);
        if (options.json) {
          printJson({ checkpoints: rows, quotas });
          return failOnCorrupt(corrupt);
        }
        printTable(
          [
            ...rows
              .flatMap(
                (r): Array<[RolledStatusRow, boolean]> => [
                  [r, false],
                  ...(r.shards ?? []).map((s): [StatusRow, boolean] => [s, true]),
                ],
              )
              .map(([r, part]) => ({
                processor: r.processor,
                partition: r.partition,
                shard: shardText(r, part),
                progress: `${r.completed}/${r.total ?? "?"}`,
                percent: r.percent === null ? "" : `${r.percent.toFixed(1)}%`,
                rate: formatRate(r.ratePerSecond),
                eta: r.etaMs === null ? "-" : formatDuration(r.etaMs),
                age: formatDuration(r.ageMs),
                lease: r.leaseHolder ?? "-",
                resumes: String(r.resumes),
              })),
            ...corrupt.map((c) => ({
              processor: c.processor,
              partition: c.partition,
              shard: c.shard,
              progress: "CORRUPT",
              percent: "",
              rate: "-",
              eta: "-",
              age: "-",
              lease: "-",
              resumes: "-",
            })),
          ],
          [
            ["processor", "PROCESSOR"],
            ["partition", "PARTITION"],
            ["shard", "SHARD"],
            ["progress", "DONE"],
            ["percent", "%"],
            ["rate", "RATE"],
            ["eta", "ETA"],
            ["age", "AGE"],
            ["lease", "LEASE HOLDER"],
            ["resumes", "RESUMES"],
          ],
          "No active checkpoints.",
        );
        printNotSplit(rows);
        printQuotas(quotas);
        failOnCorrupt(corrupt);
      },
      "read",
    );
  });
}

/**
 * The SHARD cell: a partition in parts says how many it has, the done ones included
 * (`3 shards, 1 done`); a part beneath it says its id, `(start)` for the partition's first
 * part (what is left of the whole partition after a split).
 */
function shardText(row: RolledStatusRow, part: boolean): string {
  if (row.shards) {
    const done = row.completedShards?.length ?? 0;
    const all = row.shards.length + done;
    return `${all} ${all === 1 ? "shard" : "shards"}${done > 0 ? `, ${done} done` : ""}`;
  }
  return part && row.shard === "" ? "(start)" : row.shard;
}

/** Under the table: each running partition or shard whose holder declined a split, and why. */
function printNotSplit(rows: readonly RolledStatusRow[]): void {
  const declined = rows
    .flatMap((r): StatusRow[] => [r, ...(r.shards ?? [])])
    .filter((r) => r.splitNote !== null);
  if (declined.length === 0) return;
  process.stdout.write("\nNot split:\n");
  for (const r of declined) process.stdout.write(`  ${describeKey(r)}: ${r.splitNote}\n`);
}

/** The quota table under the checkpoints; nothing when the store has no quota keys. */
function printQuotas(quotas: readonly QuotaStatusRow[]): void {
  if (quotas.length === 0) return;
  process.stdout.write("\n");
  printTable(
    quotas.map((q) => ({
      key: q.key,
      limit: formatLimit(q.limit, q.perMs),
      rate: q.rate < q.limit ? `${formatLimit(q.rate, q.perMs)} (adaptive)` : "limit",
      used: formatRate(q.usedPerSecond),
      paused: q.pausedUntil === null ? "-" : new Date(q.pausedUntil).toISOString(),
      pauses: String(q.pauses),
      waiting: String(q.waiting),
    })),
    [
      ["key", "QUOTA"],
      ["limit", "LIMIT"],
      ["rate", "RATE NOW"],
      ["used", "USED (1 MIN)"],
      ["paused", "PAUSED UNTIL"],
      ["pauses", "PAUSES"],
      ["waiting", "WAITING"],
    ],
    "",
  );
}
