import { Command } from "commander";
import { registerAdvise } from "./commands/advise.js";
import { registerDashboard } from "./commands/dashboard.js";
import { registerDemo } from "./commands/demo.js";
import { registerDemoTrain } from "./commands/demo-train.js";
import { registerEnqueue } from "./commands/enqueue.js";
import { registerFailures } from "./commands/failures.js";
import { registerGc } from "./commands/gc.js";
import { registerRedrive } from "./commands/redrive.js";
import { registerReset } from "./commands/reset.js";
import { registerRun } from "./commands/run.js";
import { registerRuns } from "./commands/runs.js";
import { registerSchema } from "./commands/schema.js";
import { registerStale } from "./commands/stale.js";
import { registerStats } from "./commands/stats.js";
import { registerStatus } from "./commands/status.js";
import { registerWorker } from "./commands/worker.js";

/** Builds the `waymark` command line. Each command lives in its own file under commands/. */
export function buildProgram(version: string): Command {
  const program = new Command("waymark")
    .description(
      "Resumable, checkpointed batch processing: run processors, inspect and operate checkpoints.",
    )
    .version(version)
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    // Options after a subcommand belong to it (`demo train --json` is train's --json).
    .enablePositionalOptions();
  registerRun(program);
  registerStatus(program);
  registerFailures(program);
  registerRedrive(program);
  registerRuns(program);
  registerStats(program);
  registerStale(program);
  registerGc(program);
  registerReset(program);
  registerAdvise(program);
  registerSchema(program);
  registerDashboard(program);
  registerWorker(program);
  registerEnqueue(program);
  registerDemoTrain(registerDemo(program));
  return program;
}
