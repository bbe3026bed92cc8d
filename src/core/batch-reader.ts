import { describeValue, OrderViolationError, WaymarkError } from "./errors.js";
import type { Cursor } from "./types.js";

type Source<E> = readonly E[] | Iterable<E> | AsyncIterable<E>;

/**
 * An async iterator of waymark's sources (pages of rows, chunks of records) may offer the
 * items it already holds through this method: up to `max` of them, handed to `accept` at once.
 * The reader then awaits only when a page runs out, not per entity.
 */
export const TAKE_BUFFERED: unique symbol = Symbol.for("waymark.takeBuffered");

/** An async iterator that can hand over the items it holds without a promise each. */
export interface BufferedIterator<E> extends AsyncIterator<E> {
  [TAKE_BUFFERED](max: number, accept: (item: E) => void): void;
}

/**
 * Cuts a lazily consumed entity source into batches and guards the cursor order: every id
 * must be greater than the one before it, so that resuming "strictly after the cursor" can
 * never skip an entity. Leading entities at or before the resume cursor are passed over, so a
 * source that ignores `after` still resumes correctly. A range's upper bound (a shard's `to`,
 * or the point a split moved it to) ends the reading at the first id past it, which the order
 * check has seen first; that id is kept in `pastBound` for the runner to check against the
 * next range's first id.
 */
export class BatchReader<E> {
  /** The id of the last entity handed out in a batch (the next checkpoint's cursor). */
  lastCursor: Cursor | null;
  /** The first id past the upper bound, once the source produced one. */
  pastBound: Cursor | undefined;
  #to: Cursor | null = null;
  readonly #id: (entity: E) => Cursor;
  readonly #where: string;
  #previous: Cursor | null;
  #pastResumePoint: boolean;
  // Exactly one of these is set: arrays are walked by index, the fastest path.
  #array: readonly E[] | undefined;
  #index = 0;
  #sync: Iterator<E> | undefined;
  #async: AsyncIterator<E> | undefined;
  #buffered: BufferedIterator<E> | undefined;
  #done = false;

  constructor(source: Source<E>, id: (entity: E) => Cursor, after: Cursor | null, where: string) {
    this.#id = id;
    this.#where = where;
    this.#previous = after;
    this.lastCursor = after;
    this.#pastResumePoint = after === null;
    if (Array.isArray(source)) {
      this.#array = source;
    } else if (isAsyncIterable(source)) {
      this.#async = source[Symbol.asyncIterator]();
      if (typeof (this.#async as Partial<BufferedIterator<E>>)[TAKE_BUFFERED] === "function") {
        this.#buffered = this.#async as BufferedIterator<E>;
      }
    } else if (isIterable(source)) {
      this.#sync = source[Symbol.iterator]();
    } else {
      throw new WaymarkError(
        "INVALID_OPTION",
        `The entities() of ${where} returned ${describeValue(source)}; it must return an array, ` +
          "an iterable or an async iterable (or a promise of one).",
      );
    }
  }

  /**
   * Ends the range at `to` (included): ids past it are left to another runner. Set before the
   * first batch for a bounded range, and moved down by a split between batches.
   */
  setUpperBound(to: Cursor | null): void {
    this.#to = to;
  }

  /** Entities left in an array source, or null when the source's length is unknown. */
  remainingInArray(): number | null {
    const array = this.#array;
    if (!array) return null;
    // Binary searches for the first id after the resume cursor and the first past the bound,
    // for the count alone: reading still starts at the first entity, so that the order check
    // sees every id. A search in an array out of order would jump over ids no check has seen.
    const first = this.#previous === null ? 0 : this.#firstAfter(array, this.#previous);
    const end = this.#to === null ? array.length : this.#firstAfter(array, this.#to);
    return Math.max(0, end - first);
  }

  /** The index of the first entity of a sorted array whose id is greater than `cursor`. */
  #firstAfter(array: readonly E[], cursor: Cursor): number {
    let low = 0;
    let high = array.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.#id(array[mid] as E) <= cursor) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** The next batch of up to `size` entities; an empty array when the source is exhausted. */
  async next(size: number): Promise<E[]> {
    return this.nextNow(size) ?? this.#nextAsync(size);
  }

  /**
   * The next batch when it needs no await (an array or a sync iterable, or the source is
   * exhausted), else null: the runner then takes it without a promise and a wait per batch.
   */
  nextNow(size: number): E[] | null {
    if (this.#async && !this.#done) return null;
    const batch: E[] = [];
    if (this.#done) return batch;
    if (this.#array) {
      const array = this.#array;
      while (batch.length < size && this.#index < array.length && !this.#done) {
        this.#accept(array[this.#index++] as E, batch);
      }
      if (this.#index >= array.length) this.#done = true;
    } else if (this.#sync) {
      while (batch.length < size && !this.#done) {
        const step = this.#sync.next();
        if (step.done) {
          this.#done = true;
          break;
        }
        this.#accept(step.value, batch);
      }
    }
    return batch;
  }

  async #nextAsync(size: number): Promise<E[]> {
    const batch: E[] = [];
    if (this.#async) {
      const buffered = this.#buffered;
      const accept = (entity: E) => this.#accept(entity, batch);
      while (batch.length < size && !this.#done) {
        if (buffered) {
          buffered[TAKE_BUFFERED](size - batch.length, accept);
          if (batch.length >= size || this.#done) break;
        }
        const step = await this.#async.next();
        if (step.done) {
          this.#done = true;
          break;
        }
        this.#accept(step.value, batch);
      }
    }
    return batch;
  }

  /** Lets the source clean up (close a database cursor) when the run stops early. */
  async close(): Promise<void> {
    // A reading ended by the bound left the source open: it is closed like an early stop.
    if (this.#done && this.pastBound === undefined) return;
    this.#done = true;
    this.#sync?.return?.();
    await this.#async?.return?.();
  }

  #accept(entity: E, batch: E[]): void {
    // A buffered source may hand over more in the same call once the bound ended the range.
    if (this.pastBound !== undefined) return;
    const id = this.#id(entity);
    const previous = this.#previous;
    if (typeof id !== "number" && typeof id !== "string") throw this.#badId(id);
    if (typeof id === "number" && !Number.isFinite(id)) throw this.#badId(id);
    if (previous !== null) {
      if (typeof id !== typeof previous) {
        throw new OrderViolationError(
          `${this.#where}: entity id ${describeValue(id)} follows ${describeValue(previous)}; ` +
            "ids must all be numbers or all be strings. Fix id() so that it returns one type.",
        );
      }
      if (id <= previous) {
        if (!this.#pastResumePoint) return; // at or before the resume cursor: already done
        throw new OrderViolationError(
          `${this.#where}: entity id ${describeValue(id)} arrived after ${describeValue(previous)}, ` +
            "but entities must come in strictly ascending id order (no repeats). Nothing past " +
            "the last committed batch was committed. Sort the source by id (for strings, in " +
            'binary/code-unit order, e.g. ORDER BY id COLLATE "C").',
        );
      }
    }
    this.#pastResumePoint = true;
    this.#previous = id;
    if (this.#to !== null && id > this.#to) {
      // Checked for order above, then left to the range after this one.
      this.pastBound = id;
      this.#done = true;
      return;
    }
    this.lastCursor = id;
    batch.push(entity);
  }

  /** An id no cursor can hold is a bad entity, as a NULL key is; its order is not the fault. */
  #badId(id: unknown): WaymarkError {
    return new WaymarkError(
      "INVALID_ENTITY",
      `${this.#where}: id() returned ${describeValue(id)}; an id must be a finite number or a ` +
        "string. Fix the processor's id function.",
    );
  }
}

function isAsyncIterable<E>(value: unknown): value is AsyncIterable<E> {
  return typeof (value as AsyncIterable<E> | null)?.[Symbol.asyncIterator] === "function";
}

function isIterable<E>(value: unknown): value is Iterable<E> {
  return typeof (value as Iterable<E> | null)?.[Symbol.iterator] === "function";
}
