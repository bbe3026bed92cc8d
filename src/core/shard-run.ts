import { InvalidOptionError } from "./errors.js";
import type { Processor } from "./processor.js";
import type { ResolvedRunOptions } from "./run-options.js";
import { listShards, shardTarget } from "./shards.js";

/**
 * What `run` runs for its `shard` option: the shard's processor on the shard's checkpoint key
 * (`partition#id`). A processor with `shards` run without `shard` is refused, since that run
 * and the shards' runs would process the same entities under different keys.
 */
export async function forShard<E, S, Tx>(
  processor: Processor<E, S, Tx>,
  options: ResolvedRunOptions,
): Promise<{ processor: Processor<E, S, Tx>; options: ResolvedRunOptions }> {
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
    return { processor, options };
  }
  const target = await shardTarget(processor, options.partition, options.shard);
  return {
    processor: target.processor,
    options: Object.freeze({ ...options, partition: target.partition }),
  };
}
