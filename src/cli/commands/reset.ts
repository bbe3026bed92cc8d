import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { checkpointKey, describeKey } from "../../core/checkpoint-key.js";
import type { PartitionReset } from "../../core/store/records.js";
import { resetCheckpoint } from "../../reports/actions.js";
import { EXIT } from "../exit-codes.js";
import {
  CliError,
  printJson,
  type StoreCommandOptions,
  usingStore,
  withStoreOptions,
} from "../shared.js";

/**
 * `waymark reset PROCESSOR PARTITION`: start a partition over, every shard of it (static and
 * split off), or with `--shard` one shard only.
 */
export function registerReset(program: Command): void {
  withStoreOptions(
    program
      .command("reset")
      .description(
        "start a partition over: delete the checkpoints of every shard of it (static and " +
          "split off) and forget which completed, so that the next run redoes it all",
      )
      .argument("<processor>", "processor name")
      .argument("<partition>", "partition")
      .option(
        "--shard <id>",
        "only this shard's checkpoint (a static shard's id, or a split-off one's ~…)",
      )
      .option("-y, --yes", "do not ask for confirmation"),
  ).action(
    async (
      processor: string,
      partition: string,
      options: StoreCommandOptions & { yes?: boolean; shard?: string },
    ) => {
      const key = checkpointKey(processor, partition, options.shard);
      const where = describeKey(key);
      if (!options.yes) {
        if (!process.stdin.isTTY) {
          throw new CliError(
            `Refusing to reset ${where} without confirmation: no terminal to ask ` +
              "on. Pass --yes to reset non-interactively.",
            EXIT.usage,
          );
        }
        if (!(await confirm(`Reset ${where}? The next run starts over. [y/N] `))) {
          throw new CliError("Nothing reset.", EXIT.failure);
        }
      }
      await usingStore(
        options.store,
        async (store) => {
          if (options.shard === undefined) {
            const reset = await store.resetPartition(processor, partition, Date.now());
            return reportPartitionReset(where, { processor, partition }, reset, options.json);
          }
          // Read first, only to say what the reset discards; a corrupt row reads as unknown.
          const before = await store.getCheckpoint(key).catch(() => null);
          const outcome = await resetCheckpoint(store, key, Date.now());
          if (options.json) printJson({ ...key, outcome });
          if (outcome === "missing") {
            throw new CliError(`No checkpoint for ${where}: nothing to reset.`);
          }
          if (outcome === "leased") {
            throw new CliError(
              `${where} is leased by a running runner; stop it or wait for its ` +
                "lease to expire, then reset.",
              EXIT.tempfail,
            );
          }
          if (!options.json) {
            const discarded = before
              ? ` deleted its checkpoint at ${before.completed}/${before.total ?? "?"} ` +
                "entities; the next run starts over and redoes them."
              : " the next run starts over.";
            process.stdout.write(`Reset ${where}:${discarded}\n`);
          }
        },
        "change",
      );
    },
  );
}

/**
 * What a partition's reset did, every shard of it: the checkpoints deleted with the progress
 * each discarded, and the shards whose completions were forgotten; or why nothing was.
 */
function reportPartitionReset(
  where: string,
  partition: { processor: string; partition: string },
  reset: PartitionReset,
  json: boolean | undefined,
): void {
  const nothing =
    reset.outcome === "reset" && reset.checkpoints.length + reset.completions.length === 0;
  const outcome = reset.outcome === "leased" ? "leased" : nothing ? "missing" : "deleted";
  if (json) {
    const { outcome: _, ...details } = reset;
    printJson({ ...partition, outcome, ...details });
  }
  if (reset.outcome === "leased") {
    const shard = reset.shard === "" ? "" : ` (shard ${reset.shard})`;
    throw new CliError(
      `${where}${shard} is leased by ${reset.owner}, a running runner; nothing was reset. Stop ` +
        "it or wait for its lease to expire, then reset.",
      EXIT.tempfail,
    );
  }
  if (nothing) throw new CliError(`No checkpoint for ${where}: nothing to reset.`);
  if (!json) process.stdout.write(`Reset ${where}: ${resetText(reset)}\n`);
}

/** `deleted its checkpoint at 14000/40000 entities; …`, or the same for every shard. */
function resetText(reset: Extract<PartitionReset, { outcome: "reset" }>): string {
  const { checkpoints, completions } = reset;
  const [only] = checkpoints;
  if (only && checkpoints.length === 1 && only.shard === "" && completions.length === 0) {
    return only.completed === null
      ? "the next run starts over; deleted its checkpoint, whose progress could not be read."
      : `deleted its checkpoint at ${only.completed}/${only.total ?? "?"} entities; the next ` +
          "run starts over and redoes them.";
  }
  const done: string[] = [];
  if (checkpoints.length > 0) {
    const each = checkpoints.map(
      (c) => `${partLabel(c.shard)} at ${c.completed ?? "?"}/${c.total ?? "?"}`,
    );
    done.push(`deleted ${plural(checkpoints.length, "checkpoint")} (${each.join(", ")})`);
  }
  if (completions.length > 0) {
    const which = completions.map(partLabel).join(", ");
    done.push(`forgot that ${which} completed`);
  }
  const redone = checkpoints.reduce((n, c) => n + (c.completed ?? 0), 0);
  const again = completions.length > 0 ? " and what had completed" : "";
  return (
    `${done.join(" and ")}; the next run starts the partition over and redoes ` +
    `${plural(redone, "committed entity", "committed entities")}${again}.`
  );
}

/** A part of a partition as the reset names it. */
function partLabel(shard: string): string {
  return shard === "" ? "the partition's first part" : `shard ${shard}`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString("en")} ${n === 1 ? one : many}`;
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}
