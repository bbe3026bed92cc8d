import { createRequire } from "node:module";
import { WaymarkError } from "../core/errors.js";

const require = createRequire(import.meta.url);

/**
 * Loads an optional peer dependency when a feature that needs it is switched on, so that
 * nothing loads it otherwise, with an error that says how to install it.
 */
export function loadPeer<T>(name: string, feature: string): T {
  try {
    return require(name) as T;
  } catch (cause) {
    throw new WaymarkError(
      "MISSING_PEER",
      `${feature} needs the optional package "${name}": install it with \`npm install ${name}\`.`,
      { cause },
    );
  }
}
