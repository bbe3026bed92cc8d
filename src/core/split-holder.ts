import { describeValue, InvalidOptionError } from "./errors.js";
import type { HeldLease } from "./lease-hold.js";
import type { Processor } from "./processor.js";
import type { GuardedStore } from "./store/guarded-store.js";
import type { SplitRequest, UnitRange } from "./store/records.js";
import { type Cursor, isCursor, type Logger } from "./types.js";
import { splitShardId } from "./unit.js";

/** A split a holder made: it keeps the ids up to `at`; `shard` covers the rest of its range. */
export interface SplitMade {
  readonly partition: string;
  readonly at: Cursor;
  /** The new shard's id. */
  readonly shard: string;
  /** The new shard's range: after `at`, up to the holder's old end. */
  readonly range: UnitRange;
}

/** What a holder answers a split request with. */
export interface SplitContext {
  readonly processor: Processor<unknown, unknown, unknown>;
  readonly held: HeldLease;
  readonly partition: string;
  /** How messages name the checkpoint. */
  readonly where: string;
  /** The range the holder covers now. */
  readonly range: UnitRange;
  /** Everything at or below this was read or processed by the holder. */
  readonly after: Cursor | null;
  /** The fewest entities each side should keep: a few batches. */
  readonly minimum: number;
  readonly signal: AbortSignal;
  readonly now: number;
  readonly logger: Logger;
}

/**
 * The holder's side of dynamic splitting (Beam's `trySplit`, Dataflow's work rebalancing): a
 * runner in a backfill watches its checkpoint for a split request written by an idle runner,
 * and answers it at its next batch boundary, never in the middle of a batch. The holder alone
 * decides the point, strictly beyond everything it has read, and commits its new upper bound
 * with the new shard in one fenced transaction; the two halves cover the old range exactly.
 */
export class SplitHolder {
  readonly #store: GuardedStore;
  readonly #held: HeldLease;
  readonly #timer: NodeJS.Timeout;
  #requested: SplitRequest | null = null;
  #reading = false;

  constructor(store: GuardedStore, held: HeldLease, pollMs: number) {
    this.#store = store;
    this.#held = held;
    this.#timer = setInterval(() => this.#poll(), pollMs);
    // Watching must never keep a finished process alive.
    this.#timer.unref();
  }

  /** A request seen and not yet answered; checked once per batch, without an await. */
  get requested(): SplitRequest | null {
    return this.#requested;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #poll(): void {
    if (this.#reading || this.#requested) return;
    this.#reading = true;
    const { lease } = this.#held;
    this.#store
      .readBack(lease)
      .then(({ checkpoint }) => {
        // A request on a checkpoint this runner no longer holds is the next holder's.
        if (checkpoint?.fence === lease.fence && checkpoint.leaseOwner === lease.owner) {
          this.#requested = checkpoint.splitRequest;
        }
      })
      // A missed poll is tried again at the next tick; splitting is an optimisation.
      .catch(() => {})
      .finally(() => {
        this.#reading = false;
      });
  }

  /**
   * Answers the pending request: splits at the point the processor's `split` names, or
   * declines (no hook, too little left, a point it must refuse), saying why on the checkpoint.
   * Resolves to the split made, or null. A lost lease throws `FencedError`.
   */
  async answer(context: SplitContext): Promise<SplitMade | null> {
    const request = this.#requested;
    if (!request) return null;
    // Before the holder has read an id of an unbounded range, nothing says what type a point
    // must have (a string cut of numeric ids would bound nothing): the next boundary answers.
    if (context.after === null && context.range.to === null) return null;
    try {
      return await this.#answer(context, request);
    } finally {
      // Cleared once answered, not before: a poll meanwhile would read the request again,
      // still pending, and have it answered twice.
      this.#requested = null;
    }
  }

  async #answer(context: SplitContext, request: SplitRequest): Promise<SplitMade | null> {
    const point = await this.#point(context);
    if ("decline" in point) {
      await this.#store.answerSplit(
        context.held.lease,
        { kind: "decline", note: point.decline },
        context.now,
      );
      return null;
    }
    const { at } = point;
    const shard = splitShardId(context.held.lease.shard, at);
    await this.#store.answerSplit(
      context.held.lease,
      { kind: "split", at, shard, requestedBy: request.by },
      context.now,
    );
    context.logger.info(
      `Split ${context.where} at ${JSON.stringify(at)}, asked by ${request.by}: this run keeps ` +
        `the ids up to it, shard ${shard} takes the rest.`,
    );
    return { partition: context.partition, at, shard, range: { from: at, to: context.range.to } };
  }

  /** The split point, or why there is none. */
  async #point(context: SplitContext): Promise<{ at: Cursor } | { decline: string }> {
    const { processor, range, after, minimum, partition, where, logger } = context;
    if (!processor.split) {
      return {
        decline:
          "its processor has no split hook (the sources fromRange, fromQuery and fromFile " +
          "give one; a hand-written entities can add split({ partition, after, to }))",
      };
    }
    let point: unknown;
    try {
      point = await processor.split({
        partition,
        after,
        to: range.to,
        minimum,
        signal: context.signal,
      });
    } catch (error) {
      logger.warn(
        `split() of ${where} threw (${(error as Error).message}); it carries on unsplit.`,
      );
      return { decline: `split() threw: ${(error as Error).message}` };
    }
    if (point === null) {
      return {
        decline: `split() found no point (fewer than ${2 * minimum} entities left, or none to cut at)`,
      };
    }
    const problem = refusal(point, after, range.to);
    if (problem) {
      const error = new InvalidOptionError(
        "split",
        `split() of ${where} returned ${describeValue(point)}: ${problem}. The partition carries ` +
          "on unsplit; return an id strictly after `after` and below `to`, or null.",
      );
      logger.error(error.message);
      return { decline: error.message };
    }
    return { at: point as Cursor };
  }
}

/** Why a split point must be refused, or null when it is one. */
function refusal(point: unknown, after: Cursor | null, to: Cursor | null): string | null {
  if (!isCursor(point)) return "a split point is an id: a finite number or a string";
  const reference = after ?? to;
  if (reference !== null && typeof reference !== typeof point) {
    return `it is a ${typeof point} where the ids are ${typeof reference}s`;
  }
  if (after !== null && point <= after) {
    return `it is not after ${JSON.stringify(after)}, which the holder has already read`;
  }
  if (to !== null && point >= to) {
    return `it is not below the range's end ${JSON.stringify(to)}`;
  }
  return null;
}
