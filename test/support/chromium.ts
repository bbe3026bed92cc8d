import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

const NAMES = ["chromium", "chromium-browser", "google-chrome-stable", "google-chrome"];

/**
 * The Chromium the browser tests drive: `WAYMARK_TEST_CHROMIUM`, or the first of the usual
 * names on PATH. Never a browser download: install the distribution's package.
 */
export const CHROMIUM: string | null = process.env.WAYMARK_TEST_CHROMIUM || onPath(NAMES);

/**
 * Why the browser tests are skipped, or false when they run. With
 * `WAYMARK_TEST_REQUIRE_BROWSER=1` (set by CI) they always run, and fail without Chromium.
 */
export const NO_BROWSER: string | false =
  CHROMIUM !== null || process.env.WAYMARK_TEST_REQUIRE_BROWSER === "1"
    ? false
    : "no Chromium on PATH: install it (Debian: apt-get install chromium) or set WAYMARK_TEST_CHROMIUM";

/** The Chromium to launch; throws how to install one when there is none. */
export function chromiumPath(): string {
  if (CHROMIUM === null) {
    throw new Error(
      "Chromium is required (WAYMARK_TEST_REQUIRE_BROWSER=1) but none is on PATH: install it " +
        "with `apt-get update && apt-get install -y chromium`, or set WAYMARK_TEST_CHROMIUM.",
    );
  }
  return CHROMIUM;
}

function onPath(names: readonly string[]): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    for (const name of names) {
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {}
    }
  }
  return null;
}
