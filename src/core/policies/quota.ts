import type { RateLimitedError } from "../errors.js";
import { writesDebug } from "../logger.js";
import type { QuotaPauseState, QuotaStore } from "../store/quota-store.js";
import { ClockOffset, Lease, leasePlan } from "./quota-lease.js";
import { checkedTokens, type ResolvedQuota, undeclared } from "./quota-options.js";
import { type QuotaRunContext, waitOrStop } from "./quota-wait.js";

/** What `ctx.quota(key)` returns: takes from the key's shared budget inside `processBatch`. */
export interface QuotaHandle {
  /** The quota key. */
  readonly key: string;
  /**
   * Waits for the turn of `tokens` more tokens (one per API call, say) and takes them.
   * Rejects with a `RunStoppedError` when the wait would pass the run's deadline.
   * @default 1
   */
  take(tokens?: number): Promise<void>;
}

/** How often a runner asks the store whether its keys were paused by another runner's 429. */
export const PAUSE_CHECK_MS = 100;
/** A lease holds up to this many takes: fewer round trips, and fairer than more. */
const MAX_LEASE_TAKES = 4;

/** What a run's quotas report to its metrics hooks (see `RunMetrics`). */
export interface QuotaEvents {
  taken(key: string, tokens: number, waitedMs: number): void;
  paused(key: string, retryAfterMs: number, pausedUntil: number): void;
}

/**
 * A run's side of its quotas: before each batch it takes the batch's tokens of every key,
 * waiting for their turn; `ctx.quota(key).take(n)` takes more. Tokens come from leases
 * reserved several takes at a time, so the store sees a round trip per lease. A 429 pauses the
 * key for every runner; the run learns of another runner's pause within {@link PAUSE_CHECK_MS}.
 */
export class RunQuota {
  readonly #keys = new Map<string, KeyQuota>();
  readonly #handles = new Map<string, QuotaHandle>();
  readonly #context: QuotaRunContext;

  constructor(
    store: QuotaStore,
    quotas: readonly ResolvedQuota[],
    context: QuotaRunContext,
    owner: string,
    events: QuotaEvents | null,
  ) {
    this.#context = context;
    for (const spec of quotas) {
      const key = new KeyQuota(store, spec, context, owner, events);
      this.#keys.set(spec.key, key);
      this.#handles.set(spec.key, {
        key: spec.key,
        take: async (tokens = 1) => {
          if (checkedTokens(spec.key, tokens) > 0)
            await key.take(tokens, 0, Number.POSITIVE_INFINITY);
        },
      });
    }
  }

  /** `ctx.quota(key)`; refuses a key the processor does not declare. */
  readonly handle = (key: string): QuotaHandle => {
    const handle = this.#handles.get(key);
    if (handle) return handle;
    throw undeclared(key, this.#context.where, [...this.#handles.keys()]);
  };

  /**
   * Takes the tokens of `batch` from every key whose cost is not 0, in order. With the run's
   * progress known, no lease reserves more takes than the batches left: the turns of a lease
   * the run ends without using pass unused for everyone.
   */
  async beforeBatch(
    batch: readonly unknown[],
    progress: { readonly completed: number; readonly total: number | null },
  ): Promise<void> {
    const left =
      progress.total === null
        ? Number.POSITIVE_INFINITY
        : Math.max(1, Math.ceil((progress.total - progress.completed) / batch.length));
    for (const key of this.#keys.values()) {
      const tokens = key.spec.cost(batch);
      if (tokens > 0) await key.take(tokens, batch.length, left);
    }
  }

  /** Records a 429 for its key (every key when it names none) and waits until the pause ends. */
  async pause(error: RateLimitedError, size: number): Promise<void> {
    const keys = error.key === undefined ? [...this.#keys.values()] : [this.#keys.get(error.key)];
    if (keys.some((key) => key === undefined)) {
      throw undeclared(error.key as string, this.#context.where, [...this.#keys.keys()]);
    }
    let until = 0;
    for (const key of keys as KeyQuota[]) until = Math.max(until, await key.pause(error));
    const names = (keys as KeyQuota[]).map((k) => JSON.stringify(k.spec.key)).join(", ");
    this.#context.options.logger.warn(
      `${this.#context.where} was rate limited (${error.message}): quota ${names} is paused ` +
        `for every runner until ${new Date(until).toISOString()}; the batch is tried again ` +
        "then, not counted as a failed attempt.",
    );
    for (const key of keys as KeyQuota[]) await key.take(0, size, 0);
  }

  /** Gives back what the run's leases did not use; never throws. */
  async release(): Promise<void> {
    for (const key of this.#keys.values()) await key.release();
  }
}

/**
 * A 429 thrown by `processBatch` (`RateLimitedError`): with quotas, every runner of the key
 * pauses; without, this run waits on its own. Either way the batch is tried again after the
 * pause without using a retry attempt, or the run suspends when the pause outlasts its deadline.
 */
export async function pauseForRateLimit(
  error: RateLimitedError,
  quota: RunQuota | null,
  context: QuotaRunContext,
  size: number,
): Promise<void> {
  if (quota) return quota.pause(error, size);
  context.options.logger.warn(
    `${context.where} was rate limited (${error.message}); the batch is tried again in ` +
      `${Math.round(error.retryAfterMs)} ms, not counted as a failed attempt.`,
  );
  await waitOrStop(context, error.retryAfterMs, size, "rate limited");
}

/** `ctx.quota` of a run without quotas: says how to declare one. */
export function noQuota(where: string): (key: string) => QuotaHandle {
  return (key) => {
    throw undeclared(key, where, []);
  };
}

/** One key of a run: its lease, the pause it knows of, and the store's clock offset. */
class KeyQuota {
  readonly spec: ResolvedQuota;
  readonly #store: QuotaStore;
  readonly #context: QuotaRunContext;
  readonly #owner: string;
  readonly #events: QuotaEvents | null;
  #lease: Lease | null = null;
  /** Takes per lease: grows while leases are used in time, back to 1 when one goes stale. */
  #takes = 2;
  /** Where the key's pause ends, by the runner's clock. */
  #pausedUntil = 0;
  /** The store's clock less the run's, for a store that keeps a clock of its own. */
  readonly #clock = new ClockOffset();
  /** The lease the clock was asked about again for, once. */
  #resampled: Lease | null = null;
  /** When the store was last asked about the pause (a lease or a check), by the run's clock. */
  #checkedAt = Number.NEGATIVE_INFINITY;

  constructor(
    store: QuotaStore,
    spec: ResolvedQuota,
    context: QuotaRunContext,
    owner: string,
    events: QuotaEvents | null,
  ) {
    this.#store = store;
    this.spec = spec;
    this.#context = context;
    this.#owner = owner;
    this.#events = events;
  }

  /**
   * Waits for the turn of `tokens` tokens and takes them; with 0, only for the key's pause to
   * end. `size` is the batch's, for the deadline; `most` the takes a new lease may hold.
   */
  async take(tokens: number, size: number, most: number): Promise<void> {
    const { now } = this.#context.options;
    let waitedMs = 0;
    for (;;) {
      const at = now();
      const lease = this.#lease;
      if (this.#pausedUntil > at) {
        waitedMs += await this.#wait(this.#pausedUntil - at, size, "is paused");
      } else if (tokens === 0) {
        if (waitedMs > 0) this.#events?.taken(this.spec.key, 0, waitedMs);
        return;
      } else if (!lease || lease.remaining < tokens || tokens > lease.sizedFor) {
        if (lease?.remaining === 0) this.#takes = Math.min(MAX_LEASE_TAKES, this.#takes * 2);
        await this.#reserve(tokens, most);
      } else if (this.#resampled !== lease && 4 * this.#clock.uncertainty > lease.lateMs) {
        // An answer too slow to place the turns well: ask again once, for a better estimate.
        this.#resampled = lease;
        await this.#checkPause(at);
      } else if (lease.isLate(tokens, at)) {
        // Its turns have passed: spending them now could crowd later ones. The lease's later
        // turns may still serve; when none does, reserve anew, and smaller.
        if (!lease.skipPassed(tokens, at)) {
          this.#lease = null;
          this.#takes = 1;
        }
      } else if (lease.turnOf(tokens) > at) {
        // Ask about pauses shortly before the turn, not at it: a slow answer must not make
        // the turn pass. What the run knows stays good for PAUSE_CHECK_MS.
        const turn = lease.turnOf(tokens);
        const askAt = turn > this.#checkedAt + PAUSE_CHECK_MS ? turn - PAUSE_CHECK_MS / 2 : turn;
        if (at >= askAt) await this.#checkPause(at);
        else waitedMs += await this.#wait(askAt - at, size, "has no tokens left");
      } else if (at - this.#checkedAt > PAUSE_CHECK_MS) {
        await this.#checkPause(at);
      } else {
        lease.use(tokens);
        this.#events?.taken(this.spec.key, tokens, waitedMs);
        return;
      }
    }
  }

  /** Reports a 429 to the store; returns when the key's pause ends, by the runner's clock. */
  async pause(error: RateLimitedError): Promise<number> {
    const { key, limit, perMs, burst, adaptive } = this.spec;
    const now = this.#context.options.now();
    const spec = { key, limit, perMs, burst, adaptive };
    const state = await this.#store.pause({ ...spec, retryAfterMs: error.retryAfterMs, now });
    this.#absorb(state, now);
    const pausedUntil = this.#pausedUntil;
    this.#events?.paused(key, error.retryAfterMs, pausedUntil);
    return pausedUntil;
  }

  async release(): Promise<void> {
    const { now, logger } = this.#context.options;
    const at = now();
    const tail = this.#lease?.tail(at);
    this.#lease = null;
    if (!tail) return;
    try {
      await this.#store.giveBack({ key: this.spec.key, owner: this.#owner, ...tail, now: at });
    } catch (error) {
      // Not given back, its turns simply pass: the budget is lost for one lease at most.
      logger.warn(
        `Could not give back ${tail.tokens} unused tokens of quota ` +
          `${JSON.stringify(this.spec.key)}: ${(error as Error).message}`,
      );
    }
  }

  /** Reserves a lease sized for takes of `tokens`, `most` of them at the most. */
  async #reserve(tokens: number, most: number): Promise<void> {
    const { key, limit, perMs, burst, adaptive } = this.spec;
    const plan = leasePlan(this.spec, tokens, Math.min(this.#takes, most));
    const { now, logger } = this.#context.options;
    const sentAt = now();
    const grant = await this.#store.take({
      key,
      limit,
      perMs,
      burst,
      adaptive,
      tokens: plan.size,
      credit: plan.credit,
      owner: this.#owner,
      now: sentAt,
    });
    this.#absorb({ key, ...grant }, sentAt);
    this.#lease = new Lease(grant, this.#clock, tokens, plan.lateTokens);
    if (writesDebug(logger)) {
      logger.debug(
        `Reserved ${plan.size} tokens of quota ${JSON.stringify(key)} for takes of ${tokens}: ` +
          `turns from ${new Date(this.#lease.turnOf(1)).toISOString()}, one every ` +
          `${grant.intervalMs.toFixed(1)} ms.`,
      );
    }
  }

  async #checkPause(at: number): Promise<void> {
    this.#absorb((await this.#store.pauses([this.spec.key], at))[0], at);
  }

  /**
   * Takes in what the store said of the key's pause, and of its clock. A store that keeps the
   * run's own clock answers with the `now` it was sent: no offset then, however long the
   * answer took.
   */
  #absorb(state: QuotaPauseState | undefined, sentAt: number): void {
    // What the store said holds from when it was asked, not from when it answered.
    this.#checkedAt = sentAt;
    if (!state) return;
    if (state.storeNow === sentAt) this.#clock.same();
    else this.#clock.sample(state.storeNow, sentAt, this.#context.options.now());
    this.#pausedUntil = state.pausedUntil - this.#clock.offset + this.#clock.uncertainty;
  }

  /** Waits `ms`; returns it. */
  async #wait(ms: number, size: number, why: string): Promise<number> {
    await waitOrStop(this.#context, ms, size, `quota ${JSON.stringify(this.spec.key)} ${why}`);
    return ms;
  }
}
