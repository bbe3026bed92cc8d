import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { EXIT } from "../exit-codes.js";
import { CliError, printJson } from "../shared.js";

/** The example lives beside `src/` and `dist/`: three levels up from this file in both. */
const PACKAGE_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const TRAINER = join(PACKAGE_ROOT, "examples", "train-model", "main.ts");
const KILL_POINT = /^(\d+):(before-put|during-put|after-put)$/;
/** The example's training: 4,000 games in batches of 100. */
const TRAINING_BATCHES = 40;

interface TrainOutput {
  status: string;
  resumedFrom: number | null;
  processed: number;
  homeAdvantage: number | null;
  ratings: number[] | null;
  weightsHex: string | null;
}

/** Where to get the training example when this installation has none. */
const REPOSITORY = "https://github.com/waymark-js/waymark";

/**
 * `waymark demo train`: trains the example model twice, once straight through and once in a
 * child process that SIGKILLs itself mid-run and is resumed, then shows whether the two
 * models are bit-identical. It runs the example's TypeScript source, which only a clone of
 * the repository has; an installed package does not offer the command and says where it is.
 */
export function registerDemoTrain(demo: Command): void {
  if (!existsSync(TRAINER)) {
    const clone =
      `runs from a clone of the repository:\n  git clone ${REPOSITORY} && cd waymark && ` +
      "npm install && npx waymark demo train";
    demo.addHelpText(
      "after",
      `\n\`waymark demo train\` (a model's training killed and resumed bit for bit) ${clone}\n`,
    );
    // Not offered here, but asked for by name it says where it runs.
    demo
      .command("train", { hidden: true })
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() => {
        throw new CliError(
          `This installation has no training example: \`waymark demo train\` ${clone}`,
          EXIT.usage,
        );
      });
    return;
  }
  demo
    .command("train")
    .description("train a small model, kill it mid-run, resume, and compare bit for bit")
    .option(
      "--kill-at <batch:phase>",
      "where the run kills itself (phase: before-put, during-put, after-put)",
      "17:during-put",
    )
    .option("--json", "print machine-readable JSON instead of text")
    .action(async (options: { killAt: string; json?: boolean }) => {
      const point = KILL_POINT.exec(options.killAt);
      const killBatch = Number(point?.[1]);
      // A batch the training never reaches would kill nothing, and the "resumed" run would
      // be the reference run again: trivially bit-identical.
      if (!point || killBatch < 1 || killBatch > TRAINING_BATCHES) {
        throw new CliError(
          `Invalid --kill-at ${JSON.stringify(options.killAt)}: use BATCH:PHASE with a batch ` +
            `from 1 to ${TRAINING_BATCHES} (the training has ${TRAINING_BATCHES} batches) and a ` +
            "phase of before-put, during-put or after-put, e.g. 17:during-put.",
          EXIT.usage,
        );
      }
      const dir = mkdtempSync(join(tmpdir(), "waymark-demo-train-"));
      try {
        const say = (line: string) => options.json || process.stdout.write(`${line}\n`);
        say("Training straight through (reference run)...");
        const reference = await trainer(join(dir, "reference.db"), [], true);
        const db = join(dir, "interrupted.db");
        const [batch, phase] = options.killAt.split(":");
        say(`Training again; this run SIGKILLs itself in batch ${batch} (${phase})...`);
        const killed = await trainer(db, ["--kill-at", options.killAt], options.json === true);
        if (killed.signal !== "SIGKILL") {
          throw new CliError(
            `The training child was to SIGKILL itself at ${options.killAt} but ended with ` +
              `${killed.signal ?? `exit ${killed.code}`}: nothing was resumed, so nothing is shown.`,
            EXIT.failure,
          );
        }
        say(`  the child process died: ${killed.signal}`);
        say("Resuming from the checkpoint...");
        const resumed = await trainer(db, [], options.json === true);
        const identical =
          resumed.out?.weightsHex != null && resumed.out.weightsHex === reference.out?.weightsHex;
        if (options.json) {
          printJson({
            killedBy: killed.signal,
            reference: reference.out,
            resumed: resumed.out,
            identical,
          });
        } else {
          printModel(resumed.out);
          say(
            identical
              ? "Bit-identical to the uninterrupted run: yes (every Float64 weight has the same bits)."
              : "Bit-identical to the uninterrupted run: NO",
          );
        }
        if (!identical) process.exitCode = EXIT.failure;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
}

function printModel(out: TrainOutput | null): void {
  if (!out?.ratings || out.homeAdvantage === null) return;
  const top = out.ratings
    .map((rating, team) => ({ team, rating }))
    .sort((a, b) => b.rating - a.rating)
    .slice(0, 5)
    .map((t) => `team ${t.team} ${t.rating.toFixed(3)}`);
  process.stdout.write(
    `Final model after ${out.resumedFrom ?? 0} + ${out.processed} games:\n` +
      `  home advantage ${out.homeAdvantage.toFixed(3)}\n  top ratings: ${top.join(", ")}\n`,
  );
}

/** Runs the example trainer in a child process; resolves however it ends. */
function trainer(
  db: string,
  args: string[],
  quiet: boolean,
): Promise<{ code: number | null; signal: string | null; out: TrainOutput | null }> {
  const argv = ["--import", "tsx", TRAINER, "--store", db, ...args, ...(quiet ? ["--quiet"] : [])];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, {
      cwd: PACKAGE_ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const out = stdout.trim() ? (JSON.parse(stdout) as TrainOutput) : null;
      resolve({ code, signal, out });
    });
  });
}
