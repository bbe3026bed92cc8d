import assert from "node:assert/strict";
import type { Cursor, Source } from "../../src/index.js";

/** One range of a partition as the runner hands it out: ids after `after`, up to `to`. */
interface Piece {
  readonly after: Cursor | null;
  readonly to: Cursor | null;
}

/** What {@link checkSplits} needs to know about the source under test. */
export interface SplitCase {
  // biome-ignore lint/suspicious/noExplicitAny: the contract holds for a source of any entity.
  readonly source: Source<any, Cursor>;
  readonly partition: string;
  readonly random: () => number;
  /** How many splits to try. */
  readonly rounds: number;
  /** The `minimum` each split is asked for. */
  readonly minimum: number;
  /**
   * Whether a rest of `size` entities must split (true), must not (false), or may go either
   * way (undefined): a source that estimates its size cannot be held to an exact count.
   */
  readonly splits: (size: number) => boolean | undefined;
  /**
   * The fewest ids each half of a rest of `size` ids must hold: at least `minimum`, and a
   * share that says how near the middle a split lands.
   */
  readonly least: (size: number) => number;
}

/** The ids `entities` gives for `piece`, read as a runner reads a shard. */
export async function idsOf(
  // biome-ignore lint/suspicious/noExplicitAny: the contract holds for a source of any entity.
  source: Source<any, Cursor>,
  partition: string,
  piece: Piece,
): Promise<Cursor[]> {
  const shard = {
    id: "split",
    ...(piece.after === null ? {} : { from: piece.after }),
    ...(piece.to === null ? {} : { to: piece.to }),
  };
  const ids: Cursor[] = [];
  for await (const entity of await source.entities({ partition, after: piece.after, shard })) {
    ids.push(source.id(entity));
  }
  return ids;
}

/**
 * The split contract, as a runner and its idle peers would exercise it: take a random piece of
 * the partition, let its holder read a random part of it, ask the source for a split point of
 * the rest and cut the piece there. Each split point lies strictly inside the rest; the two
 * halves, read through `entities`, are the rest with no overlap and no gap, each holds at
 * least `least(rest)` ids (and one), and a resume at a random id of either half reads exactly the rest of
 * that half. At the end, what the holders read and what the pieces hold is the partition,
 * each id once. Resolves to how many splits were made.
 */
export async function checkSplits(test: SplitCase): Promise<number> {
  const { source, partition, random, minimum } = test;
  const split = source.split?.bind(source);
  assert.ok(split, "the source names split points");
  const whole = await idsOf(source, partition, { after: null, to: null });
  const signal = new AbortController().signal;
  let pieces: Piece[] = [{ after: null, to: null }];
  const read: Cursor[] = [];
  let splits = 0;
  for (let round = 0; round < test.rounds; round++) {
    const index = Math.floor(random() * pieces.length);
    const piece = pieces[index] as Piece;
    const ids = await idsOf(source, partition, piece);
    // The holder has read (or is processing) a random prefix of its piece.
    const claimed = Math.floor(random() * random() * ids.length);
    read.push(...ids.slice(0, claimed));
    const after = claimed === 0 ? piece.after : (ids[claimed - 1] as Cursor);
    const rest = ids.slice(claimed);
    const point: Cursor | null = await split({ partition, after, to: piece.to, minimum, signal });
    const expected = test.splits(rest.length);
    const where = `round ${round}: ${rest.length} ids after ${String(after)} up to ${String(piece.to)}`;
    if (expected === false) assert.equal(point, null, `${where}: too few to split`);
    if (expected === true) assert.notEqual(point, null, `${where}: enough to split`);
    if (point === null) {
      pieces[index] = { after, to: piece.to };
      continue;
    }
    splits++;
    if (after !== null) assert.ok(after < point, `${where}: ${String(point)} is past the holder`);
    if (piece.to !== null) assert.ok(point < piece.to, `${where}: ${String(point)} is below to`);
    const halves: [Piece, Piece] = [
      { after, to: point },
      { after: point, to: piece.to },
    ];
    const [first, second] = await Promise.all(halves.map((h) => idsOf(source, partition, h)));
    assert.deepEqual([...(first ?? []), ...(second ?? [])], rest, `${where}: the halves`);
    for (const [h, half] of [first, second].entries()) {
      const size = half?.length ?? 0;
      const least = Math.max(1, test.least(rest.length));
      assert.ok(size >= least, `${where}: half ${h} holds ${size}, fewer than ${least}`);
      const resumeAt = Math.floor(random() * size);
      const resumed = await idsOf(source, partition, {
        after: half?.[resumeAt] as Cursor,
        to: (halves[h] as Piece).to,
      });
      assert.deepEqual(resumed, half?.slice(resumeAt + 1), `${where}: a resume in half ${h}`);
    }
    pieces = [...pieces.slice(0, index), ...halves, ...pieces.slice(index + 1)];
  }
  for (const piece of pieces) read.push(...(await idsOf(source, partition, piece)));
  const sorted = [...read].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  assert.deepEqual(sorted, whole, "the pieces and what was read are the partition, each id once");
  return splits;
}
