import { Command } from "commander";
import { registerDemoTrain } from "./commands/demo-train.js";
import { registerStatus } from "./commands/status.js";

/** Builds the `waymark` command line. Each command lives in its own file under commands/. */
export function buildProgram(version: string): Command {
  const program = new Command("waymark")
    .description("Resumable, checkpointed batch processing: inspect and operate checkpoints.")
    .version(version)
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerStatus(program);
  registerDemoTrain(program);
  return program;
}
