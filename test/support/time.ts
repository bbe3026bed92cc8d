import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";

/**
 * Waits until `condition` holds, checking every `intervalMs`, and fails the test naming `what`
 * once `timeoutMs` has passed. Tests wait for a condition, never for a fixed time.
 */
export async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  { timeoutMs = 60_000, intervalMs = 20 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(intervalMs);
  }
}

/**
 * A `sleep` for `run()` options that returns at once: a failing batch is still retried as the
 * policy says, without waiting out its backoff (10 s, 20 s and 40 s by default).
 */
export function noBackoff(): Promise<void> {
  return Promise.resolve();
}
