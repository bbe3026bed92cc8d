/**
 * Waits for promises unless a signal aborts first, then rejects them at once with the signal's
 * reason; the abandoned promise's outcome is swallowed. One listener, added once, serves every
 * wait: a run waits like this at least once per batch, and adding and removing an abort
 * listener per wait cost more than the wait.
 */
export class SignalRace {
  readonly #signal: AbortSignal;
  /** The rejections of the waits in progress, all settled by the one listener. */
  readonly #racing = new Set<(reason: unknown) => void>();

  constructor(signal: AbortSignal) {
    this.#signal = signal;
    signal.addEventListener(
      "abort",
      () => {
        for (const reject of this.#racing) reject(signal.reason);
        this.#racing.clear();
      },
      { once: true },
    );
  }

  /** Waits for `work` unless the signal aborts first. */
  race<T>(work: Promise<T>): Promise<T> {
    const signal = this.#signal;
    if (signal.aborted) {
      work.catch(() => {});
      return Promise.reject(signal.reason);
    }
    return new Promise<T>((resolve, reject) => {
      const racing = this.#racing;
      racing.add(reject);
      work.then(
        (value) => {
          racing.delete(reject);
          resolve(value);
        },
        (error: unknown) => {
          racing.delete(reject);
          reject(error);
        },
      );
    });
  }
}
