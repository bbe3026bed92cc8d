import type * as PromClient from "prom-client";
import type { RunMetrics } from "../core/metrics-hooks.js";
import { loadPeer } from "./load-peer.js";
import type { PromRegistryLike } from "./peer-types.js";

/** Options of {@link prometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /** Prepended to every metric name. @default "waymark_" */
  readonly prefix?: string;
  /** Commit latency histogram buckets, in seconds. @default [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] */
  readonly buckets?: readonly number[];
}

/**
 * Run hooks that count into a prom-client registry (an optional peer dependency):
 * `waymark_entities_processed_total`, `waymark_batches_total`,
 * `waymark_checkpoint_commit_seconds` (histogram), `waymark_resumes_total`,
 * `waymark_entities_saved_by_resume_total`, `waymark_suspensions_total{reason}`,
 * `waymark_failures_total` and `waymark_runs_total{status}`, and for quotas
 * `waymark_quota_tokens_total{key}`, `waymark_quota_waits_total{key}`,
 * `waymark_quota_wait_seconds_total{key}` and `waymark_quota_pauses_total{key}`, all labelled
 * by `processor`.
 * Calling it twice with one registry reuses the registered metrics.
 *
 * @example
 * import { Registry } from "prom-client";
 * const registry = new Registry();
 * await run(summaries, { store, metrics: prometheusMetrics(registry) });
 * console.log(await registry.metrics());
 */
export function prometheusMetrics(
  registry?: PromRegistryLike,
  options: PrometheusMetricsOptions = {},
): RunMetrics {
  const client = loadPeer<typeof PromClient>("prom-client", "prometheusMetrics");
  // A registry that is not prom-client's own would fail inside prom-client, naming itself.
  const into = (registry as PromClient.Registry | undefined) ?? client.register;
  const prefix = options.prefix ?? "waymark_";
  const counter = (name: string, help: string, labels: string[] = []) =>
    (into.getSingleMetric(prefix + name) as PromClient.Counter<string> | undefined) ??
    new client.Counter({
      name: prefix + name,
      help,
      labelNames: ["processor", ...labels],
      registers: [into],
    });
  const processed = counter("entities_processed_total", "Entities processed and committed.");
  const batches = counter("batches_total", "Batches committed.");
  const resumes = counter("resumes_total", "Runs that resumed from a checkpoint.");
  const saved = counter(
    "entities_saved_by_resume_total",
    "Entities not redone because a run resumed from a checkpoint.",
  );
  const suspensions = counter("suspensions_total", "Runs suspended, by reason.", ["reason"]);
  const failures = counter("failures_total", "Runs that failed.");
  const runs = counter("runs_total", "Runs finished, by status.", ["status"]);
  const tokens = counter("quota_tokens_total", "Quota tokens taken, by key.", ["key"]);
  const waits = counter("quota_waits_total", "Quota takes that waited for their turn.", ["key"]);
  const waited = counter(
    "quota_wait_seconds_total",
    "Time runs waited for quota tokens or for a pause to end.",
    ["key"],
  );
  const pauses = counter("quota_pauses_total", "429s that paused a quota key.", ["key"]);
  const commitName = `${prefix}checkpoint_commit_seconds`;
  const commit =
    (into.getSingleMetric(commitName) as PromClient.Histogram<string> | undefined) ??
    new client.Histogram({
      name: commitName,
      help: "Time to commit one batch's checkpoint.",
      labelNames: ["processor"],
      buckets: [...(options.buckets ?? [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5])],
      registers: [into],
    });
  return {
    runStarted({ processor, resumedFrom }) {
      if (resumedFrom === null || resumedFrom === 0) return;
      resumes.inc({ processor });
      saved.inc({ processor }, resumedFrom);
    },
    batchCommitted({ processor, entities, commitMs }) {
      processed.inc({ processor }, entities);
      batches.inc({ processor });
      commit.observe({ processor }, commitMs / 1000);
    },
    runFinished({ processor, status, reason }) {
      runs.inc({ processor, status });
      if (status === "failed") failures.inc({ processor });
      if (status === "suspended") suspensions.inc({ processor, reason: reason ?? "unknown" });
    },
    quotaTaken({ processor, key, tokens: taken, waitedMs }) {
      tokens.inc({ processor, key }, taken);
      if (waitedMs <= 0) return;
      waits.inc({ processor, key });
      waited.inc({ processor, key }, waitedMs / 1000);
    },
    quotaPaused({ processor, key }) {
      pauses.inc({ processor, key });
    },
  };
}
