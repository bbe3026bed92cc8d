import type { Cursor } from "./types.js";

/** One range of a partition's cursor space: ids after `from` up to and including `to`. */
export interface Shard {
  /** Names the shard in its checkpoint key: letters, digits, `_`, `-` and `.`. */
  readonly id: string | number;
  /** Entities with ids strictly greater than this. @default the start of the partition */
  readonly from?: Cursor;
  /** Entities with ids up to and including this. @default the end of the partition */
  readonly to?: Cursor;
}

/** Arguments of a processor's `shards`. */
export interface ShardsArgs {
  readonly partition: string;
}

/**
 * Arguments of a processor's `split`: the part of a running partition (or shard) that nobody
 * has claimed yet. The holder keeps the ids after `after` up to the point `split` returns; a
 * new shard gets the ids after that point up to `to`.
 */
export interface SplitArgs<C extends Cursor = Cursor> {
  readonly partition: string;
  /**
   * Every id at or below this was read or is being processed by the holder (or lies before
   * the range): the split point must be strictly greater. Null when the range starts at the
   * partition's start and nothing has been read yet.
   */
  readonly after: C | null;
  /** The range's upper bound (included), or null for the partition's end. */
  readonly to: C | null;
  /**
   * The fewest entities each side should keep (a few batches). A source that can tell
   * cheaply that the range holds fewer than twice this returns null.
   */
  readonly minimum: number;
  readonly signal: AbortSignal;
}
