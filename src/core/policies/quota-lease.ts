import type { QuotaGrant } from "../store/quota-store.js";

/**
 * One lease of one quota key, as a runner spends it: tokens reserved in one call to the store,
 * each with its turn, used a take at a time. Times are the runner's clock: the store's, less
 * the offset measured when the lease arrived.
 */
export class Lease {
  readonly #grant: QuotaGrant;
  readonly #offset: number;
  /** The take it was sized for: a larger take needs a lease of its own. */
  readonly sizedFor: number;
  /** How late a take may still spend its turns: the half of the burst kept for it. */
  readonly lateMs: number;
  #used = 0;

  constructor(grant: QuotaGrant, offset: number, sizedFor: number, lateTokens: number) {
    this.#grant = grant;
    this.#offset = offset;
    this.sizedFor = sizedFor;
    this.lateMs = lateTokens * grant.intervalMs;
  }

  /** Tokens not used yet. */
  get remaining(): number {
    return this.#grant.tokens - this.#used;
  }

  /** When the last of the next `tokens` tokens has its turn, by the runner's clock. */
  turnOf(tokens: number): number {
    const { start, credit, intervalMs, storeNow } = this.#grant;
    const last = this.#used + tokens - 1;
    return Math.max(storeNow, start + (last - credit) * intervalMs) - this.#offset;
  }

  /**
   * Passes over the turns that went by unused (a pause, a slow batch) up to the first take of
   * `tokens` that is still on time at `now`; false when the lease has none left.
   */
  skipPassed(tokens: number, now: number): boolean {
    const { start, credit, intervalMs, tokens: size } = this.#grant;
    // The first `used` whose take's last turn, plus `lateMs`, is not before `now`.
    const first = Math.ceil(
      (now + this.#offset - this.lateMs - start) / intervalMs + credit - tokens + 1,
    );
    if (first + tokens > size) return false;
    this.#used = Math.max(this.#used + 1, first);
    return true;
  }

  /** Spends `tokens` tokens. */
  use(tokens: number): void {
    this.#used += tokens;
  }

  /** The lease's unused tail, in the store's terms, for `QuotaStore.giveBack`; null when none. */
  tail(now: number): { end: number; from: number; tokens: number } | null {
    const { start, end, intervalMs } = this.#grant;
    // Turns already past cannot be given back: nobody can use them any more.
    if (this.remaining <= 0 || end - this.#offset <= now) return null;
    return { end, from: start + this.#used * intervalMs, tokens: this.remaining };
  }
}

/**
 * How late a timer may wake a runner for its turn and the turn still count: the tokens of this
 * much time are always part of the burst.
 */
export const TIMER_SLACK_MS = 10;

/**
 * How a lease is sized and how the burst is spent, for takes of `tokens`: one take's worth may
 * go at once after a quiet spell (`credit` turns early), and the rest is how late a take may
 * spend its turns (a slow batch, a busy event loop) without asking the store again.
 */
export function leasePlan(
  spec: { readonly limit: number; readonly perMs: number; readonly burst: number },
  tokens: number,
  takes: number,
): { size: number; credit: number; lateTokens: number } {
  // A batch's tokens go together, and a timer wakes late: the burst is at least one take and
  // the tokens of TIMER_SLACK_MS.
  const slack = Math.ceil((TIMER_SLACK_MS * spec.limit) / spec.perMs);
  const burst = Math.max(spec.burst, tokens + slack);
  // Several takes' worth, but never more than half a window's limit reserved in one go.
  const most = Math.max(1, Math.floor(spec.limit / 2 / tokens));
  return {
    size: tokens * Math.min(takes, most),
    credit: Math.max(0, tokens - 1),
    lateTokens: burst - tokens,
  };
}
