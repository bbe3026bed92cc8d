import { performance } from "node:perf_hooks";
import { describeKey } from "./checkpoint-key.js";
import { FencedError } from "./errors.js";
import type { GuardedStore } from "./store/guarded-store.js";
import type { StoredCheckpoint } from "./store/records.js";
import type { AcquireRequest, AcquireResult, LeaseHandle, UnitDone } from "./store/run-store.js";
import type { Cursor, Logger } from "./types.js";

/** How a lease is held: its TTL, the clock, and who hears that it was lost. */
export interface LeaseHoldOptions {
  readonly now: () => number;
  readonly logger: Logger;
  /** Called once when a renewal finds the lease taken over: the holder must stop. */
  readonly onFenced: (error: FencedError) => void;
}

/** Who holds a lease that could not be taken. */
export interface LeaseHolder {
  readonly owner: string;
  readonly expiresAt: number;
}

/** Why a claim took no lease: held by another runner, done for the backfill, or gone. */
export type NotHeld =
  | { readonly busy: LeaseHolder }
  | { readonly completed: UnitDone }
  | { readonly absent: true };

/**
 * The one routine that holds a checkpoint's lease, for a run and a redrive alike: takes it
 * through the guarded store (a lost reply is read back), renews it every third of its TTL
 * while the holder works (commits renew it too; this covers long batches), and gives it back.
 * Resolves to the held lease, or to why none was taken (see {@link NotHeld}).
 */
export async function holdLease(
  store: GuardedStore,
  request: AcquireRequest,
  options: LeaseHoldOptions,
): Promise<HeldLease | NotHeld> {
  const acquired = await store.acquire(request);
  if (!acquired.acquired) {
    if ("holder" in acquired) return { busy: acquired.holder };
    if ("completed" in acquired) return { completed: acquired.completed };
    return { absent: true };
  }
  const expired = acquired.expiredHolder;
  if (expired) {
    // The one redo a crash costs: say it, with what it spares.
    options.logger.warn(
      `Took over ${describeKey(request)} from ${expired.owner}` +
        `${expired.runId ? ` (run ${expired.runId})` : ""}, whose lease expired without a ` +
        "release: it died or stalled mid-run. The batch it had in flight is processed again " +
        `(at most one batch; its ${acquired.checkpoint.completed} committed entities are not), ` +
        "and side effects outside the store may repeat: ctx.idempotencyKey dedupes them, a " +
        "smaller batchSize bounds them.",
    );
  }
  return new HeldLease(store, acquired, { ...options, leaseTtlMs: request.leaseTtlMs });
}

/** A lease this process holds, renewed until {@link HeldLease.release} or {@link HeldLease.stop}. */
export class HeldLease {
  readonly lease: LeaseHandle;
  /** The checkpoint as it was committed when the lease was taken. */
  readonly checkpoint: StoredCheckpoint;
  /**
   * The store's own clock when it took the lease, for a store that judges time itself
   * (PostgreSQL): the checkpoint's age is measured against it.
   */
  readonly storeNow: number | undefined;
  /** The key's open ledger entries, when the store read them with the lease. */
  readonly ledger: readonly Cursor[] | undefined;
  readonly #store: GuardedStore;
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout;
  #renewing = false;

  constructor(
    store: GuardedStore,
    acquired: Extract<AcquireResult, { acquired: true }>,
    options: LeaseHoldOptions & { readonly leaseTtlMs: number },
  ) {
    const { lease, checkpoint } = acquired;
    this.lease = lease;
    this.checkpoint = checkpoint;
    this.storeNow = acquired.storeNow;
    this.ledger = acquired.ledger;
    this.#store = store;
    this.#now = options.now;
    const { leaseTtlMs, logger } = options;
    logger.debug(
      `Acquired the lease of ${describeKey(lease)} as ${lease.owner} (fence ${lease.fence}, ` +
        `attempt ${checkpoint.attempt}) for ${leaseTtlMs} ms.`,
    );
    this.#timer = setInterval(
      () => {
        if (this.#renewing) return;
        this.#renewing = true;
        const started = performance.now();
        store
          .renew(lease, leaseTtlMs, options.now())
          .then(() =>
            logger.debug(
              `Renewed the lease of ${describeKey(lease)} (fence ${lease.fence}) ` +
                `for ${leaseTtlMs} ms in ${(performance.now() - started).toFixed(1)} ms.`,
            ),
          )
          .catch((error: unknown) => {
            if (error instanceof FencedError) options.onFenced(error);
            else
              logger.warn(
                `Lease renewal for ${describeKey(lease)} failed: ${(error as Error).message}`,
              );
          })
          .finally(() => {
            this.#renewing = false;
          });
      },
      Math.max(100, Math.floor(leaseTtlMs / 3)),
    );
    // A heartbeat must never keep a finished process alive.
    this.#timer.unref();
  }

  /** Stops renewing (the lease is completed, or will be released). Idempotent. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /**
   * Stops renewing and gives the lease back, keeping the checkpoint for the next run (with
   * `discardEmpty`, an empty one is deleted). Never throws; resolves to whether it landed.
   */
  release(options?: { discardEmpty?: boolean }): Promise<boolean> {
    this.stop();
    return this.#store.release(this.lease, this.#now(), options);
  }
}
