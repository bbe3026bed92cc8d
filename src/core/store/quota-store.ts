/**
 * The optional quota capability of a store (`store.quotas`): one shared budget per quota key,
 * kept as a schedule of tokens (GCRA). A runner reserves several takes' worth of tokens in one
 * call (a lease); each token has a turn, `intervalMs` after the one before it, and runners
 * sharing the key get consecutive turns, so together they never go faster than the key's
 * rate. A store judges time by its own clock where it keeps one (PostgreSQL's server), else by
 * the `now` it is given. `quota-bucket.ts` is the reference semantics every store implements.
 */
export interface QuotaStore extends QuotaReader {
  /** Reserves `tokens` tokens of `key` for `owner`: the lease, with the turn of each token. */
  take(request: QuotaTake): Promise<QuotaGrant>;

  /**
   * Gives back the unused tail of a lease. The key's schedule moves back only when no lease
   * was taken after it (its end is still the schedule's end); otherwise those turns pass.
   */
  giveBack(request: QuotaGiveBack): Promise<void>;

  /**
   * Pauses `key` for `retryAfterMs` from the store's now (a 429's `Retry-After`): no token
   * has its turn before the pause ends. Lowers the rate of an adaptive key on a new pause.
   */
  pause(request: QuotaPause): Promise<QuotaPauseState>;

  /** Where each of `keys` is paused until, by the store's clock (0 when it never was). */
  pauses(keys: readonly string[], now: number): Promise<QuotaPauseState[]>;
}

/** The read side of quotas: what `waymark status` and the dashboard show, in one query. */
export interface QuotaReader {
  /** Every quota key the store has seen, by key. */
  list(): Promise<StoredQuota[]>;
}

/** A key's definition, as every request carries it: the last request's definition is kept. */
export interface QuotaSpec {
  readonly key: string;
  /** Tokens per `perMs`: the most the key's runners deliver together. */
  readonly limit: number;
  readonly perMs: number;
  /** Tokens that may go beyond `limit` in a window of `perMs` (see docs/resilience.md). */
  readonly burst: number;
  /** Whether 429s lower the rate (AIMD, see `quota-bucket.ts`). */
  readonly adaptive: boolean;
}

/** What a runner asks {@link QuotaStore.take} for. */
export interface QuotaTake extends QuotaSpec {
  /** How many tokens the lease holds. */
  readonly tokens: number;
  /**
   * How many turns may be early after a quiet spell: the first `credit + 1` tokens of an idle
   * key have their turn at once.
   */
  readonly credit: number;
  /** Who takes them (a run id): the store counts the owners who wait. */
  readonly owner: string;
  readonly now: number;
}

/**
 * A lease. Token `i` (from 0) has its turn at `max(storeNow, start + (i - credit) * intervalMs)`,
 * in the store's clock; the lease's turns end at `end`, the key's schedule at that moment.
 */
export interface QuotaGrant {
  readonly tokens: number;
  readonly start: number;
  readonly intervalMs: number;
  readonly credit: number;
  readonly end: number;
  /** The store's clock when it granted the lease, to convert its times to the runner's. */
  readonly storeNow: number;
  /** When the key's pause ends, by the store's clock; 0 when it was never paused. */
  readonly pausedUntil: number;
  /** The key's rate now, per `perMs` (below the limit while an adaptive key recovers). */
  readonly rate: number;
}

/** What a runner gives back when it stops: the tokens of a lease it did not use. */
export interface QuotaGiveBack {
  readonly key: string;
  readonly owner: string;
  /** The lease's `end`: the schedule moves back only if it is still the schedule's end. */
  readonly end: number;
  /** The turn of the first unused token's slot (`start + used * intervalMs`). */
  readonly from: number;
  readonly tokens: number;
  readonly now: number;
}

/** A 429 reported to the store. */
export interface QuotaPause extends QuotaSpec {
  readonly retryAfterMs: number;
  readonly now: number;
}

/** Where a key's pause stands, by the store's clock. */
export interface QuotaPauseState {
  readonly key: string;
  /** 0 when the key was never paused. */
  readonly pausedUntil: number;
  readonly storeNow: number;
}

/** A quota key as stored: its definition, its schedule, its pauses and its recent use. */
export interface StoredQuota extends QuotaSpec {
  /** The rate now, per `perMs`: `limit`, or less while an adaptive key recovers from 429s. */
  readonly rate: number;
  readonly rateChangedAt: number;
  /** The end of the schedule: when the last reserved token has its turn. */
  readonly tat: number;
  readonly pausedUntil: number;
  /** How many times the key was paused (429s that began a pause). */
  readonly pauses: number;
  readonly lastPauseAt: number | null;
  /** Tokens reserved since the key was created, less those given back. */
  readonly taken: number;
  /** Start of the current minute (epoch ms, a multiple of 60 000) and its tokens. */
  readonly minuteStart: number;
  readonly minuteTaken: number;
  /** Tokens of the minute before `minuteStart`. */
  readonly prevMinuteTaken: number;
  /** Owners whose last lease had to wait, with when that lease's turns end. */
  readonly waiting: Readonly<Record<string, number>>;
  readonly updatedAt: number;
}
