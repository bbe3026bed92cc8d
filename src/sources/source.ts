import type { Shard, SplitArgs } from "../core/shard-types.js";
import type { Cursor } from "../core/types.js";

/**
 * What `entities` of a source gets: the run's partition, the committed cursor to resume
 * after (null on a fresh start), the run's abort signal and, for a sharded processor, the
 * shard whose range to read.
 */
export interface SourceArgs {
  readonly partition: string;
  /**
   * Entities strictly after this cursor, null on a fresh start. Typed as any cursor so that
   * a source fits `entities` of every processor; a source reads it as its own `C`.
   */
  readonly after: Cursor | null;
  readonly signal?: AbortSignal;
  readonly shard?: Shard;
}

/**
 * What a source gives a processor: spread it into `defineProcessor` and the processor reads
 * its entities, their ids and (where the source can tell) their count from it.
 * `E` is the entity type, `C` the cursor type that `id` returns.
 *
 * @example
 * defineProcessor({ name: "pages", ...fromRange({ from: 1, to: 500 }), processBatch });
 */
export interface Source<E, C extends Cursor = Cursor> {
  /** The partition's entities in ascending id order, strictly after `after`. */
  entities(
    args: SourceArgs,
  ): Iterable<E> | AsyncIterable<E> | Promise<Iterable<E> | AsyncIterable<E>>;
  /** An entity's id: its cursor value. */
  id(entity: E): C;
  /** How many entities the partition has, when the source was asked to count them. */
  count?(args: { readonly partition: string; readonly shard?: Shard }): Promise<number> | number;
  /** A value that changes when the input changes (a file's size and mtime). */
  fingerprint?(args: { readonly partition: string }): Promise<string> | string;
  /**
   * A point near the middle of the range's unclaimed rest, strictly after `after` and below
   * `to`, where a running partition can be split in two; null when it cannot be.
   */
  split?(args: SplitArgs): Promise<C | null> | C | null;
}

/** A value, or a function of the partition that gives it (possibly asynchronously). */
export type PerPartition<T> = T | ((args: { readonly partition: string }) => T | Promise<T>);

/** Resolves a {@link PerPartition} value for one partition. */
export async function forPartition<T>(value: PerPartition<T>, partition: string): Promise<T> {
  return typeof value === "function"
    ? await (value as (args: { partition: string }) => T | Promise<T>)({ partition })
    : value;
}
