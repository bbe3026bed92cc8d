import { constants } from "node:os";
import { performance } from "node:perf_hooks";
import { WaymarkError } from "../errors.js";
import type { SuspendReason } from "../types.js";
import { onEmptyLoop } from "./empty-loop.js";
import { onStopSignal } from "./process-signals.js";
import { SignalRace } from "./signal-race.js";
import { type RunBound, StoreBounds } from "./store-bound.js";

/** Thrown inside a run when it must stop without committing the batch in flight. */
export class RunStoppedError extends WaymarkError {
  /** Why the run stops; it ends `suspended` with this reason. */
  readonly reason: SuspendReason;

  /** `cause`: the batch error whose retry the stop cut short, when there is one. */
  constructor(reason: SuspendReason, message: string, options?: { cause?: Error }) {
    super("ABORTED", message, options);
    this.name = "RunStoppedError";
    this.reason = reason;
  }
}

/** What decides when a run stops, besides running out of entities. */
export interface StopSources {
  /** The caller's signal: stops at the next batch boundary. */
  readonly signal: AbortSignal | undefined;
  /** Listen for SIGTERM/SIGINT: stop at the next boundary, abort the batch after the grace. */
  readonly handleSignals: boolean;
  readonly shutdownGraceMs: number;
  /** The hard deadline in epoch ms (by `now`), or null. */
  readonly deadline: number | null;
  readonly now: () => number;
}

const MAX_TIMER_MS = 2_147_483_647;

/**
 * Waits for `work` unless `signal` aborts first, then rejects with the signal's reason at once.
 * This is what makes a run end at its deadline or shutdown grace even when user code ignores
 * `ctx.signal`: the run stops waiting; the abandoned promise's outcome is swallowed.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Collects every reason a run may stop (caller's signal, process signals, hard deadline, lost
 * lease) into three things the runner reads: `requested`, checked at each batch boundary,
 * `signal`, which `processBatch` sees as `ctx.signal` and which aborts the batch in flight, and
 * `storeBound()`, the time a store call made now has (see store-bound.ts).
 */
export class RunStopper {
  readonly #abort = new AbortController();
  readonly #wake = new AbortController();
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #cleanups: Array<() => void> = [];
  /** The waits of {@link race}: one listener on the abort signal settles them all. */
  readonly #race = new SignalRace(this.#abort.signal);
  readonly #bounds: StoreBounds;
  #requested: SuspendReason | null = null;
  /** The batch whose processBatch the run awaits, for the message of one that never settles. */
  #batch: number | null = null;

  constructor(sources: StopSources, where: string) {
    const { signal, deadline, now } = sources;
    this.#bounds = new StoreBounds(
      this.#abort.signal,
      this.#race,
      deadline !== null || sources.handleSignals,
    );
    if (signal) {
      const onAbort = () => this.request("signal");
      if (signal.aborted) onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      this.#cleanups.push(() => signal.removeEventListener("abort", onAbort));
    }
    if (sources.handleSignals) {
      let signalled = false;
      const onSignal = (name: NodeJS.Signals) => {
        // A second signal means "now": the process ends at once, as it would without us,
        // with the conventional exit code (130 for SIGINT, 143 for SIGTERM).
        if (signalled) process.exit(128 + constants.signals[name]);
        signalled = true;
        this.request("signal");
        // The batch in flight gets the grace period, then the run stops waiting for it.
        this.#timer(
          () => this.abort(new RunStoppedError("signal", `${where} was stopped by ${name}.`)),
          sources.shutdownGraceMs,
        );
        this.#bounds.schedule(performance.now() + sources.shutdownGraceMs);
      };
      this.#cleanups.push(onStopSignal(onSignal));
    }
    // An empty event loop while the run waits: what it waits for can never settle.
    this.#cleanups.push(onEmptyLoop(() => this.abort(neverSettles(where, this.#batch))));
    if (deadline !== null) {
      const left = deadline - now();
      this.#timer(() => {
        this.request("deadline");
        this.abort(new RunStoppedError("deadline", `${where} reached its deadline.`));
      }, left);
      if (left <= MAX_TIMER_MS) this.#bounds.schedule(performance.now() + Math.max(0, left));
    }
  }

  /** Aborted when the batch in flight must stop; `processBatch` sees it as `ctx.signal`. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /**
   * `untilAborted(work, this.signal)`: waits for `work` unless the run's signal aborts first.
   * The run waits like this at least once per batch, so one listener, added once, serves
   * every wait: adding and removing an abort listener per wait cost more than the wait.
   */
  race<T>(work: Promise<T>): Promise<T> {
    return this.#race.race(work);
  }

  /**
   * The bound of a store call made now: null for a run that can never be cut (no deadline, no
   * signals handled), else the time left until the batch in flight is aborted (none known yet
   * before a signal), then the wind-up that follows it.
   */
  storeBound(): RunBound | null {
    return this.#bounds.now();
  }

  /** Says which batch's processBatch the run awaits now (null: none). */
  inBatch(batchNumber: number | null): void {
    this.#batch = batchNumber;
  }

  /** Why the run should stop at the next batch boundary, or null. */
  get requested(): SuspendReason | null {
    return this.#requested;
  }

  /** Asks the run to stop at the next batch boundary. The first reason wins. */
  request(reason: SuspendReason): void {
    this.#requested ??= reason;
    if (!this.#wake.signal.aborted) {
      this.#wake.abort(new RunStoppedError(reason, `Stop requested (${reason}).`));
    }
  }

  /** Aborted as soon as a stop is requested: cuts a retry's backoff wait short. */
  get waitSignal(): AbortSignal {
    return this.#wake.signal;
  }

  /** Aborts the batch in flight with `reason` (a {@link RunStoppedError} or `FencedError`). */
  abort(reason: Error): void {
    if (!this.#abort.signal.aborted) {
      // The wind-up's clock starts with the abort at the latest: store calls from here have it.
      this.#bounds.windUp();
      this.#abort.abort(reason);
    }
    if (!this.#wake.signal.aborted) this.#wake.abort(reason);
  }

  /** Removes process listeners and timers; the run is over. */
  dispose(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    for (const cleanup of this.#cleanups) cleanup();
    this.#bounds.dispose();
  }

  #timer(action: () => void, ms: number): void {
    // setTimeout fires at once for delays past 2^31-1 ms (~24.8 days): such a deadline is moot.
    if (ms > MAX_TIMER_MS) return;
    // Not unref'd: a batch stuck on something unref'd must still be stopped. dispose() clears it.
    this.#timers.push(setTimeout(action, Math.max(0, ms)));
  }
}

/** The error of a run whose event loop emptied while it waited (see empty-loop.ts). */
function neverSettles(where: string, batch: number | null): WaymarkError {
  const what =
    batch === null
      ? `${where} can never finish: it waits for a promise (shouldRun, fingerprint, count or ` +
        "the entities) that nothing can settle"
      : `Batch ${batch} of ${where} can never finish: processBatch awaits a promise that ` +
        "nothing can settle";
  return new WaymarkError(
    "NEVER_SETTLES",
    `${what}: the event loop is empty, no timer, socket or other work is left to settle it. ` +
      "Look for a promise that is never resolved or rejected (a lost resolve(), an event that " +
      "never fires). The run fails and gives its lease back; what it committed stays.",
  );
}
