import { performance } from "node:perf_hooks";
import { describeKey } from "./checkpoint-key.js";
import type { LeaseHandle, RunStore } from "./store/checkpoint-store.js";
import type { Logger } from "./types.js";

/**
 * Renews a lease every third of its TTL while a run holds it, so that a batch that runs
 * longer than the lease is not taken over. Commits renew the lease too; this covers the gaps.
 */
export class LeaseKeeper {
  readonly #timer: NodeJS.Timeout;
  #renewing = false;

  constructor(
    store: RunStore,
    lease: LeaseHandle,
    leaseTtlMs: number,
    now: () => number,
    onError: (error: Error) => void,
    logger?: Logger,
  ) {
    this.#timer = setInterval(
      () => {
        if (this.#renewing) return;
        this.#renewing = true;
        const started = performance.now();
        store
          .renew(lease, leaseTtlMs, now())
          .then(() =>
            logger?.debug(
              `Renewed the lease of ${describeKey(lease)} (fence ${lease.fence}) ` +
                `for ${leaseTtlMs} ms in ${(performance.now() - started).toFixed(1)} ms.`,
            ),
          )
          .catch((error: unknown) =>
            onError(error instanceof Error ? error : new Error(String(error))),
          )
          .finally(() => {
            this.#renewing = false;
          });
      },
      Math.max(100, Math.floor(leaseTtlMs / 3)),
    );
    // A heartbeat must never keep a finished process alive.
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
