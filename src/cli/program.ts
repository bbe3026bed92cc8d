import { Command } from "commander";
import { registerFailures } from "./commands/failures.js";
import { registerRedrive } from "./commands/redrive.js";
import { registerStatus } from "./commands/status.js";

/** Builds the `waymark` command line. Each command lives in its own file under commands/. */
export function buildProgram(version: string): Command {
  const program = new Command("waymark")
    .description("Resumable, checkpointed batch processing: inspect and operate checkpoints.")
    .version(version)
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerStatus(program);
  registerFailures(program);
  registerRedrive(program);
  return program;
}
