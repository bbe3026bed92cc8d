/**
 * One process of the quota benchmark: four runs at once (`runPartitions`, concurrency 4) of a
 * processor that calls the benchmark's local API once per entity under a shared quota, until
 * the deadline. Configured through the environment: STORE (a store URL), API (the API's URL),
 * PARTITIONS (comma-separated), LIMIT (tokens a second), DEADLINE (epoch ms).
 */
import { defineProcessor, openStore, runPartitions } from "../dist/index.js";

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`quota-child.ts needs ${name}`);
  return value;
};
const api = env("API");
const limit = Number(env("LIMIT"));
const processor = defineProcessor<number>({
  name: "bench-quota",
  batchSize: 10,
  retry: false,
  // The default burst: a tenth of the limit, 20 tokens, two batches.
  quota: { key: "bench-api", limit, per: "1s" },
  entities: ({ after }) =>
    Array.from({ length: 100_000 }, (_, i) => i + 1).filter((n) => after === null || n > after),
  id: (n) => n,
  async processBatch(batch, ctx) {
    for (const id of batch) {
      const response = await fetch(`${api}/?p=${ctx.partition}&id=${id}`);
      await response.arrayBuffer();
    }
  },
});
const store = await openStore(env("STORE"));
try {
  await runPartitions(processor, {
    store,
    partitions: env("PARTITIONS").split(","),
    concurrency: 4,
    deadline: Number(env("DEADLINE")),
    logger: false,
  });
} finally {
  await store.close();
}
