import type cliProgress from "cli-progress";
import ms from "ms";
import type { ProgressDisplayOptions } from "./progress.js";
import type { RunProgress } from "./run-options.js";
import {
  type PartitionOutcome,
  type PartitionsDisplay,
  unitLabel,
} from "./run-partitions-options.js";
import { barsLine, barsLogger, fittedFormat, terminalBars } from "./terminal-bars.js";
import { isSplitOff } from "./unit.js";

/**
 * The progress of `runPartitions(..., { progress: true })`: in a terminal, an overall bar
 * (partitions done, entities/s, ETA) above one bar per running partition (cli-progress's
 * multibar); otherwise a plain `Progress:` line at most every `plainEveryMs`. Loaded with
 * `import()` only when asked for.
 */
export function createPartitionsDisplay(
  processor: string,
  units: number,
  options: ProgressDisplayOptions = {},
): PartitionsDisplay {
  const stream = options.stream ?? process.stderr;
  const tally = new Tally(units, options.clock ?? Date.now);
  return stream.isTTY
    ? barsDisplay(processor, tally, stream, options)
    : plainDisplay(processor, tally, stream, options);
}

/** What the overall line shows: counts of the whole backfill and of its running partitions. */
class Tally {
  readonly #units: number;
  readonly #clock: () => number;
  readonly #started: number;
  readonly #running = new Map<string, RunProgress | null>();
  #finished = 0;
  #finishedProcessed = 0;

  constructor(units: number, clock: () => number) {
    this.#units = units;
    this.#clock = clock;
    this.#started = clock();
  }

  started(label: string): void {
    this.#running.set(label, null);
  }

  progressed(label: string, progress: RunProgress): void {
    this.#running.set(label, progress);
  }

  finished(label: string, outcome: PartitionOutcome): void {
    this.#running.delete(label);
    // A shard split off a running partition is part of that partition, not a unit of its own.
    if (!(typeof outcome.shard === "string" && isSplitOff(outcome.shard))) this.#finished++;
    this.#finishedProcessed += outcome.result?.processed ?? 0;
  }

  get finishedCount(): number {
    return this.#finished;
  }

  get runningCount(): number {
    return this.#running.size;
  }

  /** Entities processed so far, finished partitions and running ones. */
  processed(): number {
    let sum = this.#finishedProcessed;
    for (const p of this.#running.values()) sum += p?.processed ?? 0;
    return sum;
  }

  figures() {
    const elapsed = Math.max(1, this.#clock() - this.#started);
    const rate = (this.processed() / elapsed) * 1000;
    // Running partitions count by their share done, when their total is known.
    let done = this.#finished;
    for (const p of this.#running.values()) {
      if (p?.total) done += Math.min(1, p.completed / p.total);
    }
    const fraction = done / this.#units;
    const eta =
      fraction <= 0 ? "?" : ms(Math.max(0, Math.round((elapsed * (1 - fraction)) / fraction)));
    return {
      done: this.#finished,
      units: this.#units,
      running: this.#running.size,
      entities: this.processed().toLocaleString("en"),
      rate: rate >= 100 ? `${Math.round(rate)}/s` : `${rate.toFixed(1)}/s`,
      timeLeft: eta,
    };
  }
}

function barsDisplay(
  processor: string,
  tally: Tally,
  stream: NodeJS.WritableStream,
  options: ProgressDisplayOptions,
): PartitionsDisplay {
  const env = options.env ?? process.env;
  const shown = env.NO_COLOR ? "{bar}" : "\u001b[36m{bar}\u001b[0m";
  const multibar = terminalBars(stream);
  const partitionFormat = fittedFormat(
    `{label} ${shown} {value}/{total} {percentage}% | {rate} | ETA {timeLeft}`,
  );
  const overall = multibar.create(tally.figures().units, 0, payload(processor), {
    format: fittedFormat(
      `{label} ${shown} {value}/{total} partitions | {running} running | ` +
        "{entities} entities | {rate} | ETA {timeLeft}",
    ),
  });
  const bars = new Map<string, cliProgress.SingleBar>();
  const refresh = () => overall.update(tally.finishedCount, payload(processor));
  function payload(label: string) {
    return { label, ...tally.figures() };
  }
  return {
    // Each run's lines name its partition (through `child`): several runs share the bars.
    logger: barsLogger(multibar, env),
    runStarted(unit) {
      const label = unitLabel(unit);
      tally.started(label);
      bars.set(
        label,
        multibar.create(1, 0, { label, rate: "-", timeLeft: "?" }, { format: partitionFormat }),
      );
      refresh();
    },
    onProgress(unit, p) {
      const label = unitLabel(unit);
      tally.progressed(label, p);
      const bar = bars.get(label);
      if (bar) {
        bar.setTotal(Math.max(p.total ?? p.completed, 1));
        bar.update(p.completed, { label, ...runFigures(p) });
      }
      refresh();
    },
    runFinished(outcome) {
      const label = unitLabel(outcome);
      tally.finished(label, outcome);
      const bar = bars.get(label);
      if (bar) multibar.remove(bar);
      bars.delete(label);
      if (outcome.status !== "completed" && outcome.status !== "already-completed") {
        multibar.log(barsLine(`${label}: ${describeOutcome(outcome)}`));
      }
      refresh();
    },
    finish() {
      refresh();
      multibar.update(); // writes the log lines still waiting for a redraw
      multibar.stop();
    },
  };
}

function plainDisplay(
  processor: string,
  tally: Tally,
  stream: NodeJS.WritableStream,
  options: ProgressDisplayOptions,
): PartitionsDisplay {
  const clock = options.clock ?? Date.now;
  const everyMs = options.plainEveryMs ?? 10_000;
  let last = clock();
  const maybeLine = () => {
    const now = clock();
    if (now - last < everyMs) return;
    last = now;
    const f = tally.figures();
    stream.write(
      `Progress: ${processor} ${f.done}/${f.units} partitions done, ${f.running} running, ` +
        `${f.entities} entities, ${f.rate}, ETA ${f.timeLeft}\n`,
    );
  };
  return {
    runStarted: (unit) => tally.started(unitLabel(unit)),
    onProgress(unit, p) {
      tally.progressed(unitLabel(unit), p);
      maybeLine();
    },
    runFinished(outcome) {
      tally.finished(unitLabel(outcome), outcome);
      maybeLine();
    },
    finish() {},
  };
}

function runFigures(p: RunProgress) {
  const rate = p.elapsedMs > 0 ? (p.processed / p.elapsedMs) * 1000 : 0;
  const left = p.total === null ? null : Math.max(0, p.total - p.completed);
  return {
    rate: `${rate >= 100 ? Math.round(rate) : rate.toFixed(1)}/s`,
    timeLeft: left === null || rate === 0 ? "?" : ms(Math.round((left / rate) * 1000)),
  };
}

/** `failed: Error: quota` or `suspended (deadline) at 300/2000`. */
export function describeOutcome(outcome: PartitionOutcome): string {
  const r = outcome.result;
  if (!r) return outcome.status.replace("-", " ");
  const reason = r.reason ? ` (${r.reason})` : "";
  const at = `${r.completed}/${r.total ?? "?"}`;
  if (r.error) return `${r.status} at ${at}: ${r.error.message}`;
  return `${r.status}${reason} at ${at}`;
}
