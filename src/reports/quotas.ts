import ms from "ms";
import { tokensLastMinute } from "../core/store/quota-bucket.js";
import type { StoredQuota } from "../core/store/quota-store.js";
import type { ReportStore } from "../core/store/report-store.js";

/** One quota key as `waymark status` and the dashboard show it. */
export interface QuotaStatusRow {
  readonly key: string;
  /** Tokens per `perMs`, as declared. */
  readonly limit: number;
  readonly perMs: number;
  readonly burst: number;
  readonly adaptive: boolean;
  /** The rate now, per `perMs`: below `limit` while an adaptive key recovers from 429s. */
  readonly rate: number;
  /** Tokens per second taken over the last minute (an estimate from two minute counters). */
  readonly usedPerSecond: number;
  /** When the key's pause ends (epoch ms), or null when it is not paused. */
  readonly pausedUntil: number | null;
  /** Pauses since the key was created (429s that began one). */
  readonly pauses: number;
  readonly lastPauseAt: number | null;
  /** Runners whose lease is waiting for its turns now. */
  readonly waiting: number;
}

/** The quota rows at `now` from the store's quota keys. */
export function quotaReport(quotas: readonly StoredQuota[], now: number): QuotaStatusRow[] {
  return quotas.map((q) => ({
    key: q.key,
    limit: q.limit,
    perMs: q.perMs,
    burst: q.burst,
    adaptive: q.adaptive,
    rate: q.rate,
    usedPerSecond: Math.round((tokensLastMinute(q, now) / 60) * 10) / 10,
    pausedUntil: q.pausedUntil > now ? q.pausedUntil : null,
    pauses: q.pauses,
    lastPauseAt: q.lastPauseAt,
    waiting: Object.values(q.waiting).filter((until) => until > now).length,
  }));
}

/**
 * Every quota key of the store: its limit, the rate used over the last minute, its pause and
 * the runners waiting. One query; none on a store without quotas.
 */
export async function loadQuotas(
  store: ReportStore,
  options: { readonly now?: number } = {},
): Promise<QuotaStatusRow[]> {
  if (!store.quotas) return [];
  return quotaReport(await store.quotas.list(), options.now ?? Date.now());
}

/** A rate per window as people write it: `100/1s`, `5000/1h`, `12.5/1s`. */
export function formatLimit(tokens: number, perMs: number): string {
  const amount = Number.isInteger(tokens) ? String(tokens) : tokens.toFixed(1);
  return `${amount}/${ms(perMs)}`;
}
