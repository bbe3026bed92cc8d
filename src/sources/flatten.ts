import { type BufferedIterator, TAKE_BUFFERED } from "../core/batch-reader.js";

/**
 * Serves the items of an async iterable of arrays (pages of rows, chunks of records) one at
 * a time. An item already in hand costs one resolved promise here, where an async generator
 * would switch context for each; the runner takes a page's items without any promise at all
 * (`TAKE_BUFFERED`), and awaits only for the next page.
 */
export function flatten<T>(
  pages: AsyncIterable<readonly T[]>,
): AsyncIterableIterator<T> & BufferedIterator<T> {
  const source = pages[Symbol.asyncIterator]();
  let page: readonly T[] = [];
  let index = 0;
  let done = false;

  const nextPage = async (): Promise<IteratorResult<T>> => {
    for (;;) {
      const step = await source.next();
      if (step.done) {
        done = true;
        return { value: undefined, done: true };
      }
      page = step.value;
      index = 0;
      if (page.length > 0) return { value: page[index++] as T, done: false };
    }
  };

  return {
    [TAKE_BUFFERED](max: number, accept: (item: T) => void): void {
      const end = Math.min(page.length, index + max);
      // The index moves before each item is handed over: an item that is refused is consumed.
      while (index < end) accept(page[index++] as T);
    },
    next() {
      if (index < page.length) return Promise.resolve({ value: page[index++] as T, done: false });
      if (done) return Promise.resolve({ value: undefined, done: true });
      return nextPage();
    },
    async return() {
      done = true;
      page = [];
      await source.return?.();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * Maps the items of one page. When an item fails, the items before it are handed over
 * first and the error comes after them, so that a run commits every entity before a bad one.
 */
export function* mapPage<T, U>(items: readonly T[], map: (item: T) => U): Generator<U[]> {
  const mapped: U[] = [];
  try {
    for (const item of items) mapped.push(map(item));
  } catch (error) {
    if (mapped.length > 0) yield mapped;
    throw error;
  }
  yield mapped;
}
