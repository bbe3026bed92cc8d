import { InvalidOptionError } from "../errors.js";
import type { RunMetrics } from "../metrics-hooks.js";
import type { RunStore } from "../store/run-store.js";
import { type QuotaEvents, RunQuota } from "./quota.js";
import { type QuotaOptions, resolveQuotas } from "./quota-options.js";
import type { QuotaRunContext } from "./quota-wait.js";

/** What builds a run's quotas once its stops and deadline exist. */
export type QuotaFactory = (context: QuotaRunContext) => RunQuota;

/**
 * The quotas of one run: the run's `quota` option, else the processor's; null without any, so
 * that a run without quotas does nothing for them per batch. A store without quotas is refused
 * here, before the run sets up anything that would need undoing.
 */
export function setUpQuota(
  option: QuotaOptions<never> | readonly QuotaOptions<never>[] | undefined,
  options: {
    readonly store: RunStore;
    readonly partition: string;
    readonly metrics: readonly RunMetrics[] | undefined;
  },
  run: { readonly processor: string; readonly runId: string; readonly where: string },
  emit: (hook: string, call: (metrics: RunMetrics) => void) => void,
): QuotaFactory | null {
  const quotas = resolveQuotas(option);
  if (quotas.length === 0) return null;
  const store = options.store.quotas;
  if (!store) {
    throw new InvalidOptionError(
      "quota",
      `${run.where} declares quota ${JSON.stringify(quotas[0]?.key)}, but its ` +
        `${options.store.kind} store keeps no quotas (store.quotas): run it on a SqliteStore, ` +
        "PostgresStore or MemoryStore, or drop the quota option.",
    );
  }
  const event = { runId: run.runId, processor: run.processor, partition: options.partition };
  // Without metrics sinks not even the events are built: quotas are taken once per batch.
  const events: QuotaEvents | null = options.metrics?.length
    ? {
        taken: (key, tokens, waitedMs) =>
          emit("quotaTaken", (m) => m.quotaTaken?.({ ...event, key, tokens, waitedMs })),
        paused: (key, retryAfterMs, pausedUntil) =>
          emit("quotaPaused", (m) => m.quotaPaused?.({ ...event, key, retryAfterMs, pausedUntil })),
      }
    : null;
  return (context) => new RunQuota(store, quotas, context, run.runId, events);
}
