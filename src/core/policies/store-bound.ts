import { performance } from "node:perf_hooks";
import { WaymarkError } from "../errors.js";
import type { CallBound } from "../store/run-store.js";
import { SignalRace } from "./signal-race.js";

/**
 * How long a run takes, once cut at its deadline or at the end of its shutdown grace, to settle
 * its store calls: learn what its last commit did, give its lease back and record its history.
 * A call still unanswered then is given up (and cancelled on the server where the store can).
 */
export const WIND_UP_MS = 1000;

/** A {@link CallBound} the run's store wrapper can also wait with. */
export class RunBound implements CallBound {
  readonly signal: AbortSignal;
  readonly endsAt: number;
  readonly #race: SignalRace;

  constructor(signal: AbortSignal, endsAt: number, race: SignalRace) {
    this.signal = signal;
    this.endsAt = endsAt;
    this.#race = race;
  }

  /** Waits for `work` unless the bound's signal aborts first. */
  race<T>(work: Promise<T>): Promise<T> {
    return this.#race.race(work);
  }

  /** A bound that ends once `fraction` of the time left now has passed, or with this one. */
  share(fraction: number): RunBound {
    if (this.endsAt === Number.POSITIVE_INFINITY) return this;
    const now = performance.now();
    const ms = Math.max(0, Math.floor((this.endsAt - now) * fraction));
    const signal = AbortSignal.any([this.signal, AbortSignal.timeout(ms)]);
    return new RunBound(signal, now + ms, new SignalRace(signal));
  }
}

/**
 * The bounds of one run's store calls. None for a run that can never be cut (no deadline, no
 * signals handled), so that it pays nothing per call. A run that can be has its calls bounded
 * by `cut`, its own abort signal, the one that aborts the batch in flight: so that a call made
 * before a SIGTERM still gives up at the end of the grace. Its `endsAt` is the end scheduled
 * (the deadline, the end of the grace), or none yet. A call made after the cut, or after the
 * run was aborted for another reason (a lost lease), has the {@link WIND_UP_MS} that follow.
 */
export class StoreBounds {
  readonly #cut: AbortSignal;
  readonly #cutRace: SignalRace;
  #beforeCut: RunBound | null;
  #windUp: RunBound | null = null;
  #timer: NodeJS.Timeout | undefined;

  /**
   * `cut` aborts at the end; `race` waits on it (the run's, shared with its batches).
   * `cuttable`: whether the run can ever be cut (a deadline, or signals handled).
   */
  constructor(cut: AbortSignal, race: SignalRace, cuttable: boolean) {
    this.#cut = cut;
    this.#cutRace = race;
    this.#beforeCut = cuttable ? new RunBound(cut, Number.POSITIVE_INFINITY, race) : null;
  }

  /** The run is to be cut at `at` (by `performance.now()`); the earliest end scheduled wins. */
  schedule(at: number): void {
    if (this.#beforeCut !== null && this.#beforeCut.endsAt <= at) return;
    this.#beforeCut = new RunBound(this.#cut, at, this.#cutRace);
  }

  /** The bound of a store call made now, or null when the run has no end in sight. */
  now(): RunBound | null {
    const before = this.#beforeCut;
    if (this.#cut.aborted) return this.windUp();
    if (before === null) return null;
    // Past the end even when its timer has not fired yet (a synchronous call held the loop).
    return performance.now() < before.endsAt ? before : this.windUp();
  }

  /** The wind-up's bound, begun at the scheduled end or now, whichever came first. */
  windUp(): RunBound {
    if (this.#windUp !== null) return this.#windUp;
    const now = performance.now();
    const endsAt = Math.min(now, this.#beforeCut?.endsAt ?? now) + WIND_UP_MS;
    const over = new AbortController();
    // Not unref'd: a call it bounds holds a socket anyway; dispose() clears it.
    this.#timer = setTimeout(
      () =>
        over.abort(
          new WaymarkError(
            "ABORTED",
            `The run's ${WIND_UP_MS} ms to wind up after its end are over.`,
          ),
        ),
      Math.max(0, endsAt - now),
    );
    this.#windUp = new RunBound(over.signal, endsAt, new SignalRace(over.signal));
    return this.#windUp;
  }

  /** The run is over: no timer of its wind-up is left. */
  dispose(): void {
    clearTimeout(this.#timer);
  }
}
