import type { SplitArgs } from "../core/shard-types.js";
import type { Cursor } from "../core/types.js";
import { type KeyValue, keyCursor } from "./key-cursor.js";
import { keyBetween } from "./key-midpoint.js";
import { compileFilter, type KeyBounds, keyAtQuery, type QueryShape } from "./query-sql.js";
import type { CompiledSql } from "./sql.js";

/** What the split probe needs of a `fromQuery` read: its statements' parts and a way to run one. */
export interface SplitProbe {
  readonly shape: QueryShape;
  /** The user's `where` for the partition, compiled. */
  readonly where: CompiledSql;
  /** Runs a key query and gives the key of its row, or null when it found none. */
  keyAt(text: string, values: readonly unknown[]): Promise<KeyValue[] | null>;
  /** A cursor (the holder's, or a shard bound) as the key's values. */
  keyOf(cursor: Cursor): KeyValue[];
}

/** The split point of a `fromQuery` range as a cursor: see {@link splitKey}. */
export async function splitPoint(probe: SplitProbe, args: SplitArgs): Promise<Cursor | null> {
  const { after, to, minimum, signal } = args;
  const key = await splitKey(
    probe,
    after === null ? null : probe.keyOf(after),
    to === null ? null : probe.keyOf(to),
    minimum,
    signal,
  );
  if (!key) return null;
  return key.length === 1 ? (key[0] as KeyValue) : keyCursor(...key);
}

/**
 * A key near the middle of the rows after `after` up to `to`, such that the rows up to it and
 * the rows after it are each at least `minimum` (and one); null when there are fewer than
 * twice that. Three index seeks, none of which reads more than `minimum` index entries:
 *
 * 1. `high`, the key `minimum` rows before the last: the new shard keeps the rows after it;
 * 2. `low`, the `minimum`-th key up to `high`: the holder keeps the rows up to it (found only
 *    when there are `2 * minimum` rows);
 * 3. the last key from `low` on at or below a guess halfway between the two, which lies below
 *    `high` in the key's order (see {@link keyBetween}); `low` when there is none.
 *
 * Every comparison is the database's, in the order the pages read, so the point is a key
 * the pages produce whatever the guess in step 3 was.
 */
export async function splitKey(
  probe: SplitProbe,
  after: readonly KeyValue[] | null,
  to: readonly KeyValue[] | null,
  minimum: number,
  signal: AbortSignal,
): Promise<KeyValue[] | null> {
  const { shape, where } = probe;
  const keep = Math.max(1, Math.floor(minimum));
  const keyAt = (bounds: KeyBounds, order: "ASC" | "DESC", n: number) => {
    const filter = compileFilter(shape, where, { ...bounds, notNull: true });
    return probe.keyAt(keyAtQuery(shape, filter, order, n), filter.values);
  };
  const high = await keyAt({ after, to }, "DESC", keep);
  if (!high || signal.aborted) return null;
  const low = await keyAt({ after, to: high }, "ASC", keep - 1);
  if (!low || signal.aborted) return null;
  const middle = keyBetween(
    low,
    high,
    shape.key.map((k) => k.kind),
  );
  // One lower and one upper bound, so that the seek starts at the guess: a second upper
  // bound in a row comparison would start it at `high` and walk down to the guess.
  if (!middle) return low;
  return (await keyAt({ atLeast: low, atMost: middle }, "DESC", 0)) ?? low;
}
