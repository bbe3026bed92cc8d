import { format } from "node:util";
import cliProgress from "cli-progress";
import { debugEnabled, jsonLogger, textLine } from "./logger.js";
import type { LogFields, Logger, LogLevel } from "./types.js";

/**
 * What the progress displays of `run` and `runPartitions` share in a terminal: cli-progress
 * bars that fit its width, and log lines written above the bars, never over them. Loaded only
 * with those displays.
 */

/** The widest bar drawn, and the narrowest worth drawing. */
const MAX_BAR = 40;
const MIN_BAR = 5;
/** ESC [2K: erases the whole line, so that a log line leaves nothing of a bar behind it. */
const CLEAR_LINE = "\u001b[2K";

/** The bars of one display, on `stream`. */
export function terminalBars(stream: NodeJS.WritableStream): cliProgress.MultiBar {
  return new cliProgress.MultiBar({
    stream,
    barCompleteChar: "\u2588",
    barIncompleteChar: "\u2591",
    hideCursor: true,
    clearOnComplete: false,
    autopadding: true,
    // The terminal wraps what the bars do not draw: a long log line wraps instead of being
    // cut. cli-progress cuts a bar's line at the width, and fittedFormat keeps it inside.
    linewrap: true,
    // Every committed batch is a real change worth drawing; redraws are cheap.
    fps: 10,
  });
}

/**
 * A cli-progress format that sizes `{bar}` to the room the rest of the line leaves in the
 * terminal's width (colour codes counted, as cli-progress cuts by characters), and leaves the
 * bar out when there is too little. A line stops short of the last column: cli-progress
 * clears right of the cursor, which stays on that column once a line fills the width.
 */
export function fittedFormat(template: string): cliProgress.GenericFormatter {
  const { Formatter } = cliProgress.Format;
  const withoutBar = template.replace(/\S*\{bar\}\S*\s?/, "");
  return (options, params, payload) => {
    const shortest = Formatter({ ...options, format: template, barsize: 1 }, params, payload);
    const room = params.maxWidth - shortest.length;
    if (room < MIN_BAR) return Formatter({ ...options, format: withoutBar }, params, payload);
    return Formatter(
      { ...options, format: template, barsize: Math.min(MAX_BAR, room) },
      params,
      payload,
    );
  };
}

/**
 * The logger of a display: waymark's console lines (text, or JSON with WAYMARK_LOG=json) go
 * above the bars (`multibar.log`), each erasing the line it is written over, and name their
 * run through `child`. Debug lines only with WAYMARK_DEBUG.
 */
export function barsLogger(
  multibar: cliProgress.MultiBar,
  env: NodeJS.ProcessEnv,
  fields: LogFields = {},
): Logger {
  const write = (text: string) => multibar.log(CLEAR_LINE + text);
  const json =
    env.WAYMARK_LOG?.trim().toLowerCase() === "json" ? jsonLogger({ fields, write }) : null;
  const line =
    (level: LogLevel) =>
    (message: string, ...args: unknown[]): void => {
      if (level === "debug" && !debugEnabled(env)) return;
      if (json) json[level](message, ...args);
      else write(textLine(fields, format(message, ...args)));
    };
  return {
    debug: line("debug"),
    info: line("info"),
    warn: line("warn"),
    error: line("error"),
    child: (more) => barsLogger(multibar, env, { ...fields, ...more }),
  };
}

/** A line for `multibar.log` that erases what it is written over. */
export function barsLine(text: string): string {
  return `${CLEAR_LINE}${text}\n`;
}
