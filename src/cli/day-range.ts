import { InvalidOptionError } from "../core/errors.js";
import { days } from "../sources/days.js";
import { EXIT } from "./exit-codes.js";
import { CliError } from "./shared.js";

/**
 * The partitions of `--from D --to D`: every day, both included, as `days()` gives them, with
 * its errors naming the flags and exiting with the usage code.
 */
export function dayRange(from: string, to: string): string[] {
  try {
    return days(from, to);
  } catch (error) {
    if (!(error instanceof InvalidOptionError)) throw error;
    throw new CliError(error.message.replace(/`(from|to)`/g, "--$1"), EXIT.usage);
  }
}
