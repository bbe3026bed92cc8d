import { giveBackTokens, pauseKey, takeTokens } from "../../core/store/quota-bucket.js";
import type {
  QuotaGiveBack,
  QuotaGrant,
  QuotaPause,
  QuotaPauseState,
  QuotaStore,
  QuotaTake,
  StoredQuota,
} from "../../core/store/quota-store.js";

/**
 * The quotas of a `MemoryStore`: one row per key in this process, shared by every run on the
 * store object. Each call is one synchronous step, so it is atomic as it stands.
 */
export class MemoryQuotas implements QuotaStore {
  readonly #rows = new Map<string, StoredQuota>();
  readonly #check: () => void;

  /** `check` throws when the store is closed. */
  constructor(check: () => void) {
    this.#check = check;
  }

  async take(request: QuotaTake): Promise<QuotaGrant> {
    this.#check();
    const { row, grant } = takeTokens(this.#rows.get(request.key), request);
    this.#rows.set(request.key, row);
    return grant;
  }

  async giveBack(request: QuotaGiveBack): Promise<void> {
    this.#check();
    const row = this.#rows.get(request.key);
    if (row) this.#rows.set(request.key, giveBackTokens(row, request));
  }

  async pause(request: QuotaPause): Promise<QuotaPauseState> {
    this.#check();
    const row = pauseKey(this.#rows.get(request.key), request);
    this.#rows.set(request.key, row);
    return { key: row.key, pausedUntil: row.pausedUntil, storeNow: request.now };
  }

  async pauses(keys: readonly string[], now: number): Promise<QuotaPauseState[]> {
    this.#check();
    return keys.map((key) => ({
      key,
      pausedUntil: this.#rows.get(key)?.pausedUntil ?? 0,
      storeNow: now,
    }));
  }

  async list(): Promise<StoredQuota[]> {
    return [...this.#rows.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
