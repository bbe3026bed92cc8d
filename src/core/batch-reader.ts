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
 * source that ignores `after` still resumes correctly.
 */
export class BatchReader<E> {
  /** The id of the last entity handed out in a batch (the next checkpoint's cursor). */
  lastCursor: Cursor | null;
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

  /** Entities left in an array source, or null when the source's length is unknown. */
  remainingInArray(): number | null {
    const array = this.#array;
    if (!array) return null;
    if (this.#previous === null) return array.length;
    // Binary search for the first id after the resume cursor; order is checked as we read.
    let low = 0;
    let high = array.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.#id(array[mid] as E) <= this.#previous) low = mid + 1;
      else high = mid;
    }
    this.#index = low;
    return array.length - low;
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
      while (batch.length < size && this.#index < array.length) {
        this.#accept(array[this.#index++] as E, batch);
      }
      if (this.#index >= array.length) this.#done = true;
    } else if (this.#sync) {
      while (batch.length < size) {
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
      while (batch.length < size) {
        if (buffered) {
          buffered[TAKE_BUFFERED](size - batch.length, accept);
          if (batch.length >= size) break;
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
    if (this.#done) return;
    this.#done = true;
    this.#sync?.return?.();
    await this.#async?.return?.();
  }

  #accept(entity: E, batch: E[]): void {
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
