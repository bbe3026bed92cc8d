import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { DEMO_BATCH_SIZE, runDemo } from "../../demo/demo.js";
import { describeEvent, describeReport } from "../../demo/report.js";
import { redact } from "../../stores/open-store.js";
import { EXIT } from "../exit-codes.js";
import { CliError, printJson, usingStore } from "../shared.js";

interface DemoCommandOptions {
  store?: string;
  json?: boolean;
  batchMs: number;
}

/**
 * `waymark demo`: the 450-player scenario run without and with checkpoints. Returns the
 * command so that other demos (`demo train`) can hang under it.
 */
export function registerDemo(program: Command): Command {
  return (
    program
      .command("demo")
      .enablePositionalOptions()
      .description("watch a failed run resume: 450 players, a quota error at player 301")
      // No WAYMARK_STORE here on purpose: a demo should not write into a production store
      // unless someone asks for it by name.
      .option("--store <url>", "run the demo on this store (default: a temporary SQLite file)")
      .option("--json", "print the figures as JSON instead of the story")
      .option("--batch-ms <ms>", "simulated work per batch, in ms", parseBatchMs, 80)
      .action(async (options: DemoCommandOptions) => {
        const temporary = options.store ? null : mkdtempSync(join(tmpdir(), "waymark-demo-"));
        const url = options.store ?? `sqlite:${join(temporary as string, "waymark.db")}`;
        // On "exit" too: a closed pipe (`waymark demo | head`) ends the process without finally.
        const removeTemporary = () => {
          if (temporary) rmSync(temporary, { recursive: true, force: true });
        };
        process.once("exit", removeTemporary);
        try {
          await demo(url, options, temporary !== null);
        } finally {
          removeTemporary();
          process.off("exit", removeTemporary);
        }
      })
  );
}

async function demo(url: string, options: DemoCommandOptions, temporary: boolean): Promise<void> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  await usingStore(url, async (store) => {
    if (!options.json) {
      out(
        `waymark demo: 450 players of one game date, batches of ${DEMO_BATCH_SIZE} with ${options.batchMs} ms ` +
          "of simulated work each,\nand an API quota error on the batch of players 301-350. " +
          `Store: ${temporary ? "a temporary SQLite file" : redact(url)}.`,
      );
    }
    const report = await runDemo(store, {
      batchMs: options.batchMs,
      onEvent: (event) => {
        const line = options.json ? null : describeEvent(event, DEMO_BATCH_SIZE);
        if (line !== null) out(line);
      },
    });
    const finished = [report.withoutCheckpoints, report.withCheckpoints].every(
      (mode) => mode.runs.at(-1)?.status === "completed",
    );
    if (options.json) printJson(report);
    else {
      out(describeReport(report));
      out(
        temporary
          ? "\nThe temporary store was removed. Keep the history with --store sqlite:demo.db, " +
              "then look at it with `waymark runs --store sqlite:demo.db`."
          : `\nSee the runs with \`waymark runs --store ${redact(url)}\`.`,
      );
    }
    if (!finished) throw new CliError("The demo's last runs did not complete.", EXIT.failure);
  });
}

function parseBatchMs(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 5000) {
    throw new InvalidArgumentError(`expected whole milliseconds from 0 to 5000; got "${value}".`);
  }
  return n;
}
