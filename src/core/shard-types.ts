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
