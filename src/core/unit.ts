import { createHash } from "node:crypto";
import { InvalidOptionError, WaymarkError } from "./errors.js";
import type { Shard, ShardsArgs } from "./shard-types.js";
import { findShard, listShards } from "./shards.js";
import type { UnitRange } from "./store/records.js";
import type { Cursor } from "./types.js";

/**
 * What one run covers: a whole partition, one of its static shards (`shards()`), or a shard
 * split off a running one (dynamic splitting). Each has a checkpoint of its own, keyed by
 * (processor, partition, shard), and stores its range with it.
 */
export interface RunUnit {
  readonly partition: string;
  /** The shard id: `""` for the whole partition, `~…` for one made by a split. */
  readonly shard: string;
  /** The static shard as `shards()` defines it; null for the whole partition or a split-off one. */
  readonly definition: Shard | null;
  /** The range as defined; a split-off shard's comes from its checkpoint when it is claimed. */
  readonly range: UnitRange;
  /** The digest of the partition's static split (`""` without `shards()`). */
  readonly layout: string;
  /** A shard made by a split: it exists only as a checkpoint row, never created by a claim. */
  readonly splitOff: boolean;
}

/** The processor's side a unit is resolved from. */
interface Sharded {
  readonly name: string;
  shards?(args: ShardsArgs): Shard[] | Promise<Shard[]>;
}

const WHOLE: UnitRange = { from: null, to: null };

/** Whether a shard id names a shard made by dynamic splitting. */
export function isSplitOff(shard: string): boolean {
  return shard.startsWith("~");
}

/**
 * The id of the shard a split of `parent` at `at` makes: `~` and a digest, so that it never
 * collides with a static shard's id (letters, digits, `_`, `-`, `.`) and the same split,
 * written again after a lost reply, names the same shard.
 */
export function splitShardId(parent: string, at: Cursor): string {
  return `~${createHash("sha256")
    .update(JSON.stringify([parent, at]))
    .digest("hex")
    .slice(0, 12)}`;
}

/**
 * The digest of a partition's static split: any change of ids or bounds changes it, so that a
 * checkpoint made under one split is never resumed under another (that would skip or repeat
 * the ids between the old and the new bounds).
 */
export function layoutOf(shards: readonly Shard[]): string {
  if (shards.length === 0) return "";
  const canonical = shards
    .map((s) => [String(s.id), s.from ?? null, s.to ?? null] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return createHash("sha256").update(JSON.stringify(canonical)).digest("hex").slice(0, 16);
}

/** Every unit a partition starts as: the whole partition, or each of its static shards. */
export async function unitsOf(processor: Sharded, partition: string): Promise<RunUnit[]> {
  if (!processor.shards) return [wholeUnit(partition)];
  const shards = await listShards(processor, partition);
  const layout = layoutOf(shards);
  return shards.map((shard) => staticUnit(partition, shard, layout));
}

/**
 * The unit a run's `shard` option names. A processor with `shards` run without `shard` is
 * refused, since that run and the shards' runs would process the same entities under
 * different keys.
 */
export async function unitOfRun(
  processor: Sharded,
  partition: string,
  shard: string | number | undefined,
): Promise<RunUnit> {
  if (shard === undefined) {
    if (processor.shards) {
      const ids = (await listShards(processor, partition)).map((s) => String(s.id));
      throw new InvalidOptionError(
        "shard",
        `Processor "${processor.name}" splits partition ${JSON.stringify(partition)} ` +
          `into shards ${ids.join(", ")}: pass shard: one of them, once per shard ` +
          "(enqueuePartitions sends a job for each).",
      );
    }
    return wholeUnit(partition);
  }
  if (typeof shard === "string" && isSplitOff(shard)) {
    return { partition, shard, definition: null, range: WHOLE, layout: "", splitOff: true };
  }
  const definition = await findShard(processor, partition, shard);
  return staticUnit(partition, definition, layoutOf(await listShards(processor, partition)));
}

/** The whole partition as one unit. */
export function wholeUnit(partition: string): RunUnit {
  return { partition, shard: "", definition: null, range: WHOLE, layout: "", splitOff: false };
}

function staticUnit(partition: string, definition: Shard, layout: string): RunUnit {
  return {
    partition,
    shard: String(definition.id),
    definition,
    range: { from: definition.from ?? null, to: definition.to ?? null },
    layout,
    splitOff: false,
  };
}

/**
 * The shard the processor's hooks see for a unit covering `range`: its static definition with
 * the range it has now (a split may have moved `to`), a split-off shard as its id and range,
 * and nothing for a whole partition that was never split.
 */
export function shardArgOf(unit: RunUnit, range: UnitRange): Shard | undefined {
  if (unit.definition === null && range.from === null && range.to === null) return undefined;
  return {
    id: unit.definition?.id ?? unit.shard,
    ...(range.from === null ? {} : { from: range.from }),
    ...(range.to === null ? {} : { to: range.to }),
  };
}

/** A range as messages show it: `the ids after 5 up to 100`. */
export function describeRange(range: UnitRange | null): string {
  if (range === null) return "an unrecorded range";
  const from = range.from === null ? "from the start" : `after ${JSON.stringify(range.from)}`;
  const to = range.to === null ? "to the end" : `up to ${JSON.stringify(range.to)}`;
  return `the ids ${from} ${to}`;
}

/**
 * Whether a unit's checkpoint or completion was made under the split the unit has now: the
 * same static split (`layout`), or another one that gives this unit the very range stored
 * (a shard whose bounds did not move covers the same ids). Rows from before ranges were
 * recorded (no layout) are taken as made under it.
 */
export function sameSplit(
  unit: RunUnit,
  stored: { readonly layout: string | null; readonly range: UnitRange | null },
): boolean {
  if (unit.splitOff || stored.layout === null || stored.layout === unit.layout) return true;
  return stored.range?.from === unit.range.from && stored.range?.to === unit.range.to;
}

/**
 * `SHARD_DRIFT` when a static unit's checkpoint was begun, or its completion in this backfill
 * made, under another split of its partition that gave it other bounds; else null. Resuming
 * such a checkpoint, or counting such a completion done, under the new split would skip or
 * repeat the ids between the old and the new bounds, so the unit stops until the user decides.
 */
export function driftOf(
  processor: string,
  unit: RunUnit,
  stored: { readonly layout: string | null; readonly range: UnitRange | null },
  made: "begun" | "completed",
): WaymarkError | null {
  if (sameSplit(unit, stored)) return null;
  const partition = JSON.stringify(unit.partition);
  const where = `${processor}/${unit.partition}${unit.shard ? ` shard ${unit.shard}` : ""}`;
  const row = made === "begun" ? "its checkpoint covers" : "its completion covered";
  const use = made === "begun" ? "Resuming it" : "Counting it done";
  return new WaymarkError(
    "SHARD_DRIFT",
    `${where} was ${made} under another split of partition ${partition}: ${row} ` +
      `${describeRange(stored.range)}, while shards() now gives it ${describeRange(unit.range)}. ` +
      `${use} under the new split would skip or repeat the ids between the bounds. Restore the ` +
      "previous shards() and run again: the partition goes on exactly where it stopped. Or " +
      `start partition ${partition} over under the new split, processing its ids again: ` +
      `waymark reset ${processor} ${unit.partition} (every shard of it), then run again.`,
  );
}
