import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { checkpointKey, describeKey } from "../../core/checkpoint-key.js";
import { resetCheckpoint } from "../../reports/actions.js";
import { EXIT } from "../exit-codes.js";
import {
  CliError,
  printJson,
  type StoreCommandOptions,
  usingStore,
  withStoreOptions,
} from "../shared.js";

/** `waymark reset PROCESSOR PARTITION`: forget a checkpoint so the next run starts over. */
export function registerReset(program: Command): void {
  withStoreOptions(
    program
      .command("reset")
      .description("forget a checkpoint so that the next run starts over")
      .argument("<processor>", "processor name")
      .argument("<partition>", "partition")
      .option("--shard <id>", "only this shard of the partition (a sharded processor's shard id)")
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

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}
