import type * as PromClient from "prom-client";
import type { ReportStore } from "../core/store/report-store.js";
import type { PromRegistryLike } from "../metrics/peer-types.js";
import { loadStale, loadStatus } from "../reports/load.js";
import { loadQuotas } from "../reports/quotas.js";

const DAY = 86_400_000;

/**
 * The `/metrics` text: gauges read from the store (progress of every checkpoint, stale
 * checkpoints, corrupt ones, dead runs, each quota's limit, use, pause and waiting runners)
 * followed by `registry`'s metrics. Null when prom-client, an
 * optional peer, is not installed.
 */
export async function storeMetrics(
  store: ReportStore,
  now: number,
  registry?: PromRegistryLike,
): Promise<string | null> {
  let client: typeof PromClient;
  try {
    client = await import("prom-client");
  } catch {
    return null;
  }
  const own = new client.Registry();
  const labelNames = ["processor", "partition"];
  const completed = new client.Gauge({
    name: "waymark_checkpoint_completed_entities",
    help: "Entities complete in each active checkpoint.",
    labelNames,
    registers: [own],
  });
  const total = new client.Gauge({
    name: "waymark_checkpoint_total_entities",
    help: "Entities in each active checkpoint's partition, when known.",
    labelNames,
    registers: [own],
  });
  const stale = new client.Gauge({
    name: "waymark_stale_checkpoints",
    help: "Checkpoints without a live lease and no commit for 24 hours.",
    registers: [own],
  });
  const corrupt = new client.Gauge({
    name: "waymark_corrupt_checkpoints",
    help: "Checkpoint rows holding values no run could have written: reset them.",
    registers: [own],
  });
  const dead = new client.Gauge({
    name: "waymark_dead_runs",
    help: "Runs left running by a process that stopped, silent for 24 hours.",
    registers: [own],
  });
  const quota = (name: string, help: string) =>
    new client.Gauge({
      name: `waymark_quota_${name}`,
      help,
      labelNames: ["key"],
      registers: [own],
    });
  const limit = quota("limit_per_second", "Each quota key's limit, in tokens per second.");
  const rate = quota("rate_per_second", "Each quota key's rate now (adaptive keys lower it).");
  const used = quota("used_per_second", "Tokens per second taken over the last minute.");
  const paused = quota("paused_until_seconds", "When the key's pause ends (epoch s); 0: none.");
  const pauses = quota("pauses", "Pauses (429s) since the key was created.");
  const waiting = quota("waiting_runners", "Runners whose lease waits for its turns now.");
  for (const q of await loadQuotas(store, { now })) {
    const labels = { key: q.key };
    limit.set(labels, (q.limit * 1000) / q.perMs);
    rate.set(labels, (q.rate * 1000) / q.perMs);
    used.set(labels, q.usedPerSecond);
    paused.set(labels, q.pausedUntil === null ? 0 : q.pausedUntil / 1000);
    pauses.set(labels, q.pauses);
    waiting.set(labels, q.waiting);
  }
  for (const row of await loadStatus(store, { now })) {
    const labels = { processor: row.processor, partition: row.partition };
    completed.set(labels, row.completed);
    if (row.total !== null) total.set(labels, row.total);
  }
  const report = await loadStale(store, { now, olderThanMs: DAY });
  stale.set(report.checkpoints.length);
  dead.set(report.runs.length);
  corrupt.set(report.corrupt.length);
  return `${await own.metrics()}\n${registry ? await registry.metrics() : ""}`;
}
