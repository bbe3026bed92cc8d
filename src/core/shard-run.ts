import { InvalidOptionError } from "./errors.js";
import type { Processor } from "./processor.js";
import type { ResolvedRunOptions } from "./run-options.js";
import { clipToShard, findShard, listShards, type Shard } from "./shards.js";

/**
 * What a run runs for its `shard` option: the processor clipped to the shard, and the shard
 * (null for the whole partition). A processor with `shards` run without `shard` is refused,
 * since that run and the shards' runs would process the same entities under different keys.
 */
export async function shardOfRun<E, S, Tx>(
  processor: Processor<E, S, Tx>,
  options: Pick<ResolvedRunOptions, "partition" | "shard">,
): Promise<{ processor: Processor<E, S, Tx>; shard: Shard | null }> {
  if (options.shard === undefined) {
    if (processor.shards) {
      const ids = (await listShards(processor, options.partition)).map((s) => String(s.id));
      throw new InvalidOptionError(
        "shard",
        `Processor "${processor.name}" splits partition ${JSON.stringify(options.partition)} ` +
          `into shards ${ids.join(", ")}: pass shard: one of them, once per shard ` +
          "(enqueuePartitions sends a job for each).",
      );
    }
    return { processor, shard: null };
  }
  const shard = await findShard(processor, options.partition, options.shard);
  return { processor: clipToShard(processor, options.partition, shard), shard };
}
