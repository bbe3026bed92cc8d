import { fileURLToPath } from "node:url";

/**
 * Where a user's code called into waymark, for errors about what that call passed: the stack
 * of an invalid `defineProcessor` would otherwise start deep inside the package (`dist/core/
 * validate.js`), far from the line to fix.
 */

/** The package's own code: `src/` when run from source, `dist/` when installed. */
const OWN_CODE = ["src", "dist"].map((folder) =>
  fileURLToPath(new URL(`../../${folder}/`, import.meta.url)),
);

/**
 * Points `error` at the code that called `api`: its stack starts at the first frame outside
 * waymark (and node's internals), and its message ends with that location. Returns `error`.
 */
export function atCallerOf<T extends Error>(error: T, api: (...args: never[]) => unknown): T {
  const holder: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 50; // enough to get past the package's own frames
  Error.captureStackTrace(holder, api);
  Error.stackTraceLimit = limit;
  const frames = (holder.stack ?? "").split("\n").slice(1);
  const first = frames.findIndex((frame) => !isOwnOrInternal(frame));
  if (first === -1) return error;
  const location = locationOf(frames[first] as string);
  if (location) error.message = `${error.message} (${api.name} called at ${location})`;
  error.stack = [`${error.name}: ${error.message}`, ...frames.slice(first, first + limit)].join(
    "\n",
  );
  return error;
}

function isOwnOrInternal(frame: string): boolean {
  const location = locationOf(frame) ?? "";
  return location.startsWith("node:") || OWN_CODE.some((folder) => location.startsWith(folder));
}

/** `/path/jobs.ts:12:7` from `    at fn (file:///path/jobs.ts:12:7)` or `    at /path/…`. */
function locationOf(frame: string): string | null {
  const match = /\(([^()]+)\)$/.exec(frame) ?? /^\s*at (.+)$/.exec(frame);
  const location = match?.[1];
  if (!location) return null;
  return location.startsWith("file://") ? decodeURI(location.slice("file://".length)) : location;
}
