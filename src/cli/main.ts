#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { logFormat } from "../core/logger.js";
import { EXIT } from "./exit-codes.js";
import { buildProgram } from "./program.js";
import { exitCodeOf } from "./shared.js";

const { version } = JSON.parse(
  readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
) as { version: string };

// `waymark runs | head` closes the pipe early: stop quietly instead of crashing on EPIPE.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(EXIT.ok);
  throw error;
});

const program = buildProgram(version);
try {
  logFormat(); // a WAYMARK_LOG that names no format is a usage error before anything runs
  await program.parseAsync(process.argv);
} catch (error) {
  const code = (error as { code?: string }).code ?? "";
  if (code === "commander.helpDisplayed" || code === "commander.version") process.exit(EXIT.ok);
  if (code.startsWith("commander.")) process.exit(EXIT.usage);
  process.stderr.write(`waymark: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(exitCodeOf(error));
}
