import type { Logger } from "../types.js";
import type { DeadlinePlanner } from "./deadline.js";
import { RunStoppedError, type RunStopper } from "./stop.js";

/** What the quota policy needs from its run: the clock, the waits and the stops. */
export interface QuotaRunContext {
  readonly options: {
    readonly now: () => number;
    readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
    readonly logger: Logger;
  };
  readonly stopper: RunStopper;
  readonly planner: DeadlinePlanner | null;
  readonly where: string;
}

/**
 * Waits `ms` through the run's `sleep` (a stop request cuts it short), or suspends the run
 * with `rate-limited` at once when the wait, and a batch of `size` after it, would pass the
 * deadline less its margin.
 */
export async function waitOrStop(
  context: QuotaRunContext,
  ms: number,
  size: number,
  why: string,
): Promise<void> {
  if (ms <= 0) return;
  const { options, planner, stopper, where } = context;
  const until = options.now() + ms;
  if (planner?.wouldOverrun(until, size)) {
    throw new RunStoppedError(
      "rate-limited",
      `${where}: ${why} until ${new Date(until).toISOString()}, past the deadline less its ` +
        "margin; the next run goes on from the last commit.",
    );
  }
  await options.sleep(ms, stopper.waitSignal);
}
