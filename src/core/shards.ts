/**
 * Shards split one partition's cursor space into ranges with checkpoints of their own, so
 * that several workers process one large partition in parallel. A shard's checkpoint is
 * keyed by (processor, partition, shard id); reports roll the shards back up.
 */
import { describeValue, InvalidOptionError } from "./errors.js";
import type { Shard, ShardsArgs } from "./shard-types.js";
import { type Cursor, isCursor } from "./types.js";

export type { Shard, ShardsArgs } from "./shard-types.js";

const SHARD_ID = /^[\w.-]{1,64}$/;

/**
 * Calls a processor's `shards` and checks what it returned: a non-empty array of ranges with
 * unique ids. Throws an `InvalidOptionError` naming `shards` otherwise.
 */
export async function listShards(
  processor: { readonly name: string; shards?(args: ShardsArgs): Shard[] | Promise<Shard[]> },
  partition: string,
): Promise<Shard[]> {
  if (!processor.shards) return [];
  const shards: unknown = await processor.shards({ partition });
  const where = `${processor.name}'s shards({ partition: ${JSON.stringify(partition)} })`;
  if (!Array.isArray(shards) || shards.length === 0) {
    throw new InvalidOptionError(
      "shards",
      `${where} returned ${describeValue(shards)}; expected a non-empty array of ` +
        "{ id, from?, to? }. Return [{ id: 0 }] for a partition that needs no split.",
    );
  }
  const seen = new Set<string>();
  for (const shard of shards as Shard[]) {
    const id = shard?.id;
    if ((typeof id !== "string" && typeof id !== "number") || !SHARD_ID.test(String(id))) {
      throw new InvalidOptionError(
        "shards",
        `${where} returned a shard with id ${describeValue(id)}; use a number or a string of ` +
          "letters, digits, _, - and . (at most 64), e.g. 0, 1, 2.",
      );
    }
    if (seen.has(String(id))) {
      throw new InvalidOptionError("shards", `${where} returned the shard id ${id} twice.`);
    }
    seen.add(String(id));
  }
  checkRanges(shards as Shard[], where);
  return shards as Shard[];
}

/**
 * The shards must cover the partition's cursor space exactly once: an overlap would process
 * its entities twice, a gap never, and every shard would still end completed. In the order
 * of their `from`, the first has none, each starts where the one before ends, and the last
 * has no `to`.
 */
function checkRanges(shards: readonly Shard[], where: string): void {
  const refuse = (problem: string) => {
    throw new InvalidOptionError("shards", `${where}: ${problem}`);
  };
  const bounds = shards.flatMap((s) => [s.from, s.to]).filter((b) => b !== undefined);
  for (const bound of bounds) {
    if (!isCursor(bound)) {
      refuse(
        `a shard bound is ${describeValue(bound)}; from and to are cursors, numbers or strings as id() returns them.`,
      );
    }
  }
  if (new Set(bounds.map((b) => typeof b)).size > 1) {
    refuse("the bounds mix numbers and strings, which do not compare; use the type id() returns.");
  }
  const label = (shard: Shard) => `shard ${String(shard.id)}`;
  const ordered = [...shards].sort((a, b) => compareFrom(a.from, b.from));
  let previous: Shard | undefined;
  for (const shard of ordered) {
    const { from, to } = shard;
    if (from !== undefined && to !== undefined && !(from < to)) {
      refuse(
        `${label(shard)} is ids after ${show(from)} up to ${show(to)}, which is empty; its from must be below its to.`,
      );
    }
    if (previous === undefined) {
      if (from !== undefined) {
        refuse(
          `no shard starts at the partition's start, so ids up to ${show(from)} would never run; leave from out of ${label(shard)}.`,
        );
      }
    } else if (from === undefined) {
      refuse(
        `${label(previous)} and ${label(shard)} both start at the partition's start and would process the same ids twice; give the second a from.`,
      );
    } else if (previous.to === undefined || from < previous.to) {
      const end = previous.to === undefined ? "the end" : show(previous.to);
      refuse(
        `${label(previous)} runs up to ${end} and ${label(shard)} starts after ${show(from)}: the ids between would be processed twice. Start each shard where the one before ends.`,
      );
    } else if (from !== previous.to) {
      refuse(
        `${label(previous)} ends at ${show(previous.to)} and ${label(shard)} starts after ${show(from)}: the ids between would never run. Start each shard where the one before ends.`,
      );
    }
    previous = shard;
  }
  if (previous?.to !== undefined) {
    refuse(
      `no shard reaches the partition's end, so ids after ${show(previous.to)} would never run; leave to out of ${label(previous)}.`,
    );
  }
}

/** A bound as the user wrote it: `6`, `"2024-01-15"`. */
const show = (bound: Cursor) => JSON.stringify(bound);

/** Orders shards by `from`, the open start first. */
function compareFrom(a: Cursor | undefined, b: Cursor | undefined): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Shard `id` of `partition`, as the processor's `shards` defines it. Throws an
 * `InvalidOptionError` naming `shard` when the processor has no shards or none with that id.
 */
export async function findShard(
  processor: { readonly name: string; shards?(args: ShardsArgs): Shard[] | Promise<Shard[]> },
  partition: string,
  id: string | number,
): Promise<Shard> {
  if (!processor.shards) {
    throw new InvalidOptionError(
      "shard",
      `shard: ${describeValue(id)} was given, but processor "${processor.name}" defines no ` +
        "shards({ partition }). Leave shard out, or add shards to the processor.",
    );
  }
  const shards = await listShards(processor, partition);
  const shard = shards.find((s) => String(s.id) === String(id));
  if (!shard) {
    throw new InvalidOptionError(
      "shard",
      `Processor "${processor.name}" has no shard ${String(id)} for partition ` +
        `${JSON.stringify(partition)}; its shards are ${shards.map((s) => String(s.id)).join(", ")}.`,
    );
  }
  return shard;
}
