import type { QuotaGrant } from "../store/quota-store.js";

/**
 * One lease of one quota key, as a runner spends it: tokens reserved in one call to the store,
 * each with its turn, used a take at a time. Times are the runner's clock: the store's, less
 * the offset `clock` keeps, which may improve while the lease is spent.
 */
export class Lease {
  readonly #grant: QuotaGrant;
  readonly #clock: ClockOffset;
  /** The take it was sized for: a larger take needs a lease of its own. */
  readonly sizedFor: number;
  /** How late a take may still spend its turns: the burst beyond one take, less the slack. */
  readonly lateMs: number;
  #used = 0;

  constructor(grant: QuotaGrant, clock: ClockOffset, sizedFor: number, lateTokens: number) {
    this.#grant = grant;
    this.#clock = clock;
    this.sizedFor = sizedFor;
    this.lateMs = lateTokens * grant.intervalMs;
  }

  /** Tokens not used yet. */
  get remaining(): number {
    return this.#grant.tokens - this.#used;
  }

  /**
   * When the last of the next `tokens` tokens has its turn, by the runner's clock: at the
   * latest it may be, so that no take goes early however uncertain the clock's offset.
   */
  turnOf(tokens: number): number {
    const { start, credit, intervalMs, storeNow } = this.#grant;
    const last = this.#used + tokens - 1;
    const turn = Math.max(storeNow, start + (last - credit) * intervalMs);
    return turn - this.#clock.offset + this.#clock.uncertainty;
  }

  /** Whether the next take of `tokens` has let its turn pass by more than the lease allows. */
  isLate(tokens: number, now: number): boolean {
    return now > this.turnOf(tokens) + this.#lateness();
  }

  /**
   * Passes over the turns that went by unused (a pause, a slow batch) up to the first take of
   * `tokens` that is still on time at `now`; false when the lease has none left.
   */
  skipPassed(tokens: number, now: number): boolean {
    const { start, credit, intervalMs, tokens: size } = this.#grant;
    const { offset, uncertainty } = this.#clock;
    // The first `used` whose take is not late at `now` (see isLate).
    const first = Math.ceil(
      (now + offset - uncertainty - this.#lateness() - start) / intervalMs + credit - tokens + 1,
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
    if (this.remaining <= 0 || end - this.#clock.offset <= now) return null;
    return { end, from: start + this.#used * intervalMs, tokens: this.remaining };
  }

  /**
   * How late a take may be by the runner's clock: the clock's uncertainty comes off it twice,
   * since a turn is waited for at its latest and may have been at its earliest.
   */
  #lateness(): number {
    return Math.max(0, this.lateMs - 2 * this.#clock.uncertainty);
  }
}

/**
 * Twice this much time's tokens are always part of the burst: once for a timer that wakes a
 * runner late (its turn still counts), once kept back for a request on its way to the API
 * (which counts it when it arrives, not when it was sent).
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
  // A batch's tokens go together, a timer wakes late, a request takes time to arrive: the
  // burst is at least one take and twice the tokens of TIMER_SLACK_MS.
  const slack = Math.ceil((TIMER_SLACK_MS * spec.limit) / spec.perMs);
  const burst = Math.max(spec.burst, tokens + 2 * slack);
  // Several takes' worth, but never more than half a window's limit reserved in one go.
  const most = Math.max(1, Math.floor(spec.limit / 2 / tokens));
  return {
    size: tokens * Math.min(takes, most),
    credit: Math.max(0, tokens - 1),
    lateTokens: burst - tokens - slack,
  };
}

/**
 * The offset of a store's clock (PostgreSQL's server) from the run's, estimated as NTP does:
 * from the answer that came back fastest, whose store time lies within the shortest span of
 * the run's. A slow answer (a busy event loop, a queue for a connection) read alone would put
 * every turn late by its delay, and a late turn spent crowds the turns after it: it is not
 * believed over a faster one, unless the faster one is a minute old (clocks drift).
 */
export class ClockOffset {
  #offset = 0;
  #span = Number.POSITIVE_INFINITY;
  #at = Number.NEGATIVE_INFINITY;

  /** The store's clock less the run's. */
  get offset(): number {
    return this.#offset;
  }

  /** How far `offset` may be off either way: half the span of the answer it came from. */
  get uncertainty(): number {
    return Number.isFinite(this.#span) ? this.#span / 2 : 0;
  }

  /** A store that keeps the run's own clock: no offset, and no doubt about it. */
  same(): void {
    this.#offset = 0;
    this.#span = 0;
    this.#at = Number.POSITIVE_INFINITY;
  }

  /** Takes in an answer stamped `storeNow`, asked at `sentAt`, come at `now`. */
  sample(storeNow: number, sentAt: number, now: number): void {
    const span = now - sentAt;
    if (span <= this.#span || now - this.#at > 60_000) {
      this.#offset = storeNow - (sentAt + now) / 2;
      this.#span = span;
      this.#at = now;
    }
  }
}
