import type cliProgress from "cli-progress";
import ms from "ms";
import { consoleLogger } from "./logger.js";
import type { ResolvedRunOptions, RunProgress } from "./run-options.js";
import { barsLogger, fittedFormat, terminalBars } from "./terminal-bars.js";
import type { Logger } from "./types.js";

/**
 * The terminal progress of `run(..., { progress: true })`. Loaded with `import()` only when
 * that option is on, so a run without it never loads cli-progress.
 */

/** Where and how progress is shown. Tests inject a stream, an environment and a clock. */
export interface ProgressDisplayOptions {
  /** @default process.stderr */
  readonly stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Read for `NO_COLOR`. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Least time between two plain lines when the stream is not a terminal. @default 10_000 */
  readonly plainEveryMs?: number;
  /** @default Date.now */
  readonly clock?: () => number;
}

/** How a run ended, as the display's last line shows it. */
export interface ProgressOutcome {
  readonly status: string;
  readonly completed: number;
  readonly total: number | null;
  readonly durationMs: number;
}

/** Receives every committed batch and the end of the run. */
export interface ProgressDisplay {
  onProgress(progress: RunProgress): void;
  finish(outcome: ProgressOutcome): void;
  /** Where the run's lines go while the bar is drawn (a bar display only). */
  readonly logger?: Logger;
}

/**
 * A progress bar (completed/total, rate, ETA, resumed-from marker) when the stream is a
 * terminal, plain lines at most every `plainEveryMs` otherwise. Colour unless `NO_COLOR`.
 */
export function createProgressDisplay(
  label: string,
  options: ProgressDisplayOptions = {},
): ProgressDisplay {
  const stream = options.stream ?? process.stderr;
  return stream.isTTY ? barDisplay(label, stream, options) : plainDisplay(label, stream, options);
}

/**
 * Wraps a run's options so that every committed batch also reaches the display. The
 * logger's own `Progress:` lines are turned off: the display shows progress instead.
 */
export function attachProgress(
  processor: string,
  resolved: ResolvedRunOptions,
  options?: ProgressDisplayOptions,
): { options: ResolvedRunOptions; finish(outcome: ProgressOutcome): void } {
  const display = createProgressDisplay(`${processor}/${resolved.partition}`, options);
  const onProgress = resolved.onProgress;
  // waymark's own console lines would tear the bar: they go above it. A logger of the
  // caller's writes where it pleases, as before.
  const logger =
    display.logger && resolved.logger === consoleLogger ? display.logger : resolved.logger;
  return {
    options: Object.freeze({
      ...resolved,
      logger,
      progressEveryMs: Number.POSITIVE_INFINITY,
      onProgress: (progress: RunProgress) => {
        display.onProgress(progress);
        onProgress?.(progress);
      },
    }),
    finish: (outcome) => display.finish(outcome),
  };
}

function figures(label: string, p: RunProgress) {
  const rate = p.elapsedMs > 0 ? (p.processed / p.elapsedMs) * 1000 : 0;
  const left = p.total === null ? null : Math.max(0, p.total - p.completed);
  return {
    label,
    rate: `${rate >= 100 ? Math.round(rate) : rate.toFixed(1)}/s`,
    // Not `eta`: cli-progress puts its own (whole seconds) under that name.
    timeLeft: left === null || rate === 0 ? "?" : ms(Math.round((left / rate) * 1000)),
    resumed: p.resumedFrom === null ? "" : ` | resumed from ${p.resumedFrom}`,
  };
}

function barDisplay(
  label: string,
  stream: NodeJS.WritableStream,
  options: ProgressDisplayOptions,
): ProgressDisplay {
  const env = options.env ?? process.env;
  const multibar = terminalBars(stream);
  let bar: cliProgress.SingleBar | undefined;
  return {
    // Lines written while the bar is drawn go above it, not over it.
    logger: barsLogger(multibar, env),
    onProgress(p) {
      const payload = figures(label, p);
      const first = !bar;
      if (!bar) {
        const shown = env.NO_COLOR ? "{bar}" : "\u001b[36m{bar}\u001b[0m";
        bar = multibar.create(p.total ?? Math.max(p.completed, 1), p.completed, payload, {
          format: fittedFormat(
            p.total === null
              ? "{label} {value} done | {rate}{resumed}"
              : `{label} ${shown} {value}/{total} {percentage}% | {rate} | ETA {timeLeft}{resumed}`,
          ),
        });
      }
      if (p.total === null) bar.setTotal(Math.max(p.completed, 1));
      bar.update(p.completed, payload);
      if (first) multibar.update(); // drawn at once, not at the next tick
    },
    finish(outcome) {
      multibar.update(); // writes the log lines still waiting for a redraw
      multibar.stop();
      stream.write(`${label}: ${summary(outcome)}\n`);
    },
  };
}

function plainDisplay(
  label: string,
  stream: NodeJS.WritableStream,
  options: ProgressDisplayOptions,
): ProgressDisplay {
  const clock = options.clock ?? Date.now;
  const everyMs = options.plainEveryMs ?? 10_000;
  let last = Number.NEGATIVE_INFINITY;
  return {
    onProgress(p) {
      const now = clock();
      if (now - last < everyMs) return;
      last = now;
      const f = figures(label, p);
      const done =
        p.total === null
          ? `${p.completed}`
          : `${p.completed}/${p.total} (${p.total ? ((p.completed / p.total) * 100).toFixed(1) : "100.0"}%)`;
      stream.write(`${f.label}: ${done} ${f.rate} ETA ${f.timeLeft}${f.resumed}\n`);
    },
    finish(outcome) {
      stream.write(`${label}: ${summary(outcome)}\n`);
    },
  };
}

function summary(o: ProgressOutcome): string {
  return `${o.status} at ${o.completed}/${o.total ?? "?"} in ${ms(Math.round(o.durationMs))}`;
}
