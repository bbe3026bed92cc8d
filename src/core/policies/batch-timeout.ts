import { WaymarkError } from "../errors.js";
import { integerFrom } from "../validate.js";

/** The longest delay `setTimeout` keeps (~24.8 days); a longer one fires at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** The zod schema of `batchTimeoutMs`, a processor and a run option. */
export const batchTimeoutSchema = integerFrom(1, "pass milliseconds, e.g. 60_000").max(
  MAX_TIMER_MS,
  { error: `expected at most ${MAX_TIMER_MS} (about 24.8 days); pass milliseconds, e.g. 60_000` },
);

/**
 * The time limit of one call of `processBatch` (`batchTimeoutMs`). Its `signal` is the call's
 * `ctx.signal`: aborted by the run's signal, or with a `BATCH_TIMEOUT` error once `ms` have
 * passed; {@link race} then stops waiting for the call, which counts as a failed attempt.
 * Made only for a processor or run that sets the option: without it a batch costs nothing.
 */
export class BatchTimer {
  readonly #controller = new AbortController();
  readonly #runSignal: AbortSignal;
  readonly #forward: () => void;
  readonly #expired: Promise<never>;
  #timer: NodeJS.Timeout | undefined;

  constructor(runSignal: AbortSignal, ms: number, batch: string) {
    this.#runSignal = runSignal;
    this.#forward = () => this.#controller.abort(runSignal.reason);
    if (runSignal.aborted) this.#forward();
    else runSignal.addEventListener("abort", this.#forward, { once: true });
    this.#expired = new Promise<never>((_, reject) => {
      // Ref'd: the hang this guards against may hold nothing else that keeps the process up.
      this.#timer = setTimeout(() => {
        const error = new WaymarkError(
          "BATCH_TIMEOUT",
          `${batch} took longer than batchTimeoutMs (${ms} ms); it was aborted through ` +
            "ctx.signal and counts as a failed attempt. Raise batchTimeoutMs if batches " +
            "really take that long, or find what processBatch waits for (a socket that " +
            "never answers, a request without a timeout).",
        );
        this.#controller.abort(error);
        reject(error);
      }, ms);
    });
    this.#expired.catch(() => {});
  }

  /** What `processBatch` sees as `ctx.signal`. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Waits for `work` unless the time runs out first. */
  race<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.#expired]);
  }

  /** Stops the clock; the call is over. */
  clear(): void {
    clearTimeout(this.#timer);
    this.#runSignal.removeEventListener("abort", this.#forward);
  }
}
