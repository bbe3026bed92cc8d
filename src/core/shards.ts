/**
 * Shards split one partition's cursor space into ranges with checkpoints of their own, so
 * that several workers process one large partition in parallel. A shard's checkpoint is
 * keyed by (processor, partition, shard id); reports roll the shards back up.
 */
import { describeValue, InvalidOptionError } from "./errors.js";
import type { EntitySource, Processor } from "./processor.js";
import type { Shard, ShardsArgs } from "./shard-types.js";
import type { Cursor } from "./types.js";

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
  return shards as Shard[];
}

/**
 * The processor as one shard of `partition` sees it: `entities` gets the shard and starts
 * after its `from`, and the run stops after its `to` even if `entities` yields past it.
 * `count`, `initialState` and `fingerprint` get the shard too; `ctx.shard` is set by the run.
 */
export function clipToShard<E, S, Tx>(
  processor: Processor<E, S, Tx>,
  partition: string,
  shard: Shard,
): Processor<E, S, Tx> {
  const from = shard.from ?? null;
  const to = shard.to;
  const args = { partition, shard };
  const { shards: _whole, ...unsharded } = processor as Processor<E, S, Tx> & { shards?: unknown };
  return {
    ...unsharded,
    entities: ({ after, signal }) =>
      clip(
        processor.entities({ ...args, after: after ?? from, signal }),
        processor.id,
        after ?? from,
        to,
      ),
    ...(processor.count
      ? { count: () => (processor.count as NonNullable<typeof processor.count>)(args) }
      : {}),
    ...(processor.initialState
      ? {
          initialState: () =>
            (processor.initialState as NonNullable<typeof processor.initialState>)(args),
        }
      : {}),
    ...(processor.fingerprint
      ? {
          fingerprint: () =>
            (processor.fingerprint as NonNullable<typeof processor.fingerprint>)(args),
        }
      : {}),
  };
}

/** Skips ids at or before `after` and ends at the first id past `to`. */
async function* clip<E>(
  source: EntitySource<E>,
  id: (entity: E) => Cursor,
  after: Cursor | null,
  to: Cursor | undefined,
): AsyncGenerator<E> {
  for await (const entity of (await source) as AsyncIterable<E> | Iterable<E>) {
    const cursor = id(entity);
    if (to !== undefined && cursor > to) return;
    if (after !== null && cursor <= after) continue;
    yield entity;
  }
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
