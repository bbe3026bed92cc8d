import type { Cursor } from "./types.js";

/**
 * The open failure-ledger entries of the key a run holds, read once with its lease: a batch
 * that processes one of their entities successfully resolves it in its own commit, so the
 * ledger follows the entity. A run whose key has no open entries has no `OpenLedger` at all
 * and spends nothing per batch; one that has some spends two `id()` calls per batch, and looks
 * at each entity only in a batch whose range holds an open entry.
 */
export class OpenLedger {
  /** The open cursors of the run's id type, ascending; filled at the first batch. */
  #ahead: Cursor[];
  /** The first of `#ahead` a batch may still hold: batches come in ascending id order. */
  #next = 0;
  #sorted = false;

  private constructor(cursors: readonly Cursor[]) {
    this.#ahead = [...cursors];
  }

  /** The ledger of these open cursors, or null when there are none. */
  static of(cursors: readonly Cursor[]): OpenLedger | null {
    return cursors.length === 0 ? null : new OpenLedger(cursors);
  }

  /**
   * The cursors of `batch` (in ascending id order, as every batch and bisected part is) that
   * are open in the ledger, or undefined when it holds none.
   */
  within<E>(batch: readonly E[], id: (entity: E) => Cursor): Cursor[] | undefined {
    if (batch.length === 0) return undefined;
    const first = id(batch[0] as E);
    if (!this.#sorted) {
      // Ids of one partition are all numbers or all strings; an entry of the other type (an
      // id() that changed) can never match, and would only stop the skipping below.
      this.#ahead = this.#ahead.filter((c) => typeof c === typeof first).sort(ascending);
      this.#sorted = true;
    }
    const ahead = this.#ahead;
    while (this.#next < ahead.length && (ahead[this.#next] as Cursor) < first) this.#next++;
    if (this.#next === ahead.length) return undefined;
    const last = id(batch[batch.length - 1] as E);
    if ((ahead[this.#next] as Cursor) > last) return undefined;
    const inRange = new Set<Cursor>();
    for (let i = this.#next; i < ahead.length && (ahead[i] as Cursor) <= last; i++) {
      inRange.add(ahead[i] as Cursor);
    }
    const found: Cursor[] = [];
    for (const entity of batch) {
      const cursor = id(entity);
      if (inRange.has(cursor)) found.push(cursor);
    }
    return found.length > 0 ? found : undefined;
  }
}

/** The order the runner checks ids in: `<` on numbers, or on strings by UTF-16 code units. */
function ascending(a: Cursor, b: Cursor): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
