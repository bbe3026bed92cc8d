import type { Logger } from "./types.js";

/** Logs to the console with a `[waymark]` prefix; debug lines only when `WAYMARK_DEBUG` is set. */
export const consoleLogger: Logger = {
  debug: (message, ...args) => {
    if (process.env.WAYMARK_DEBUG) console.debug(`[waymark] ${message}`, ...args);
  },
  info: (message, ...args) => console.info(`[waymark] ${message}`, ...args),
  warn: (message, ...args) => console.warn(`[waymark] ${message}`, ...args),
  error: (message, ...args) => console.error(`[waymark] ${message}`, ...args),
};

/** A logger that says nothing: `run(p, { logger: silentLogger })` or `logger: false`. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
