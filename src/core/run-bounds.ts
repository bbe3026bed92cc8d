import { BatchReader } from "./batch-reader.js";
import { describeValue, OrderViolationError } from "./errors.js";
import type { Processor } from "./processor.js";
import type { Cursor } from "./types.js";

/** Where a range ends, and what its reader found there. */
export interface RangeEnd {
  readonly partition: string;
  /** The unit's shard id (`""` for a whole partition). */
  readonly shard: string;
  /** The range's upper bound. */
  readonly bound: Cursor;
  /** The first id the source gave past the bound. */
  readonly pastBound: Cursor;
  readonly signal: AbortSignal;
  /** How messages name the checkpoint. */
  readonly where: string;
}

/**
 * The order check sees every id before the bound clips it: the first id past the bound must
 * be the first id of the range after it, or the source's order disagrees with the ids'
 * (a collation other than code-unit order) and the ranges would miss or repeat ids. Throws
 * `ORDER_VIOLATION` then.
 */
export async function checkOrderAtBound<E>(
  processor: Pick<Processor<E, unknown, unknown>, "entities" | "id">,
  end: RangeEnd,
): Promise<void> {
  const { bound, pastBound, where } = end;
  const source = await processor.entities({
    partition: end.partition,
    after: bound,
    signal: end.signal,
    shard: { id: end.shard, from: bound },
  });
  const probe = new BatchReader(source, processor.id, bound, where);
  const [next] = await probe.next(1);
  await probe.close();
  const first = next === undefined ? undefined : processor.id(next);
  if (first === pastBound) return;
  throw new OrderViolationError(
    `${where}: the source gave ${describeValue(pastBound)} right after the range's end ` +
      `${describeValue(bound)}, but asked for the ids after ${describeValue(bound)} it starts ` +
      `with ${describeValue(first)}: its order is not the ids' order, so ranges cut at ` +
      "bounds would miss or repeat ids. Sort the source by id in code-unit order " +
      '(for strings, e.g. ORDER BY id COLLATE "C"). Nothing of this range was completed.',
  );
}
