import type * as Otel from "@opentelemetry/api";
import type { RunMetrics } from "../core/metrics-hooks.js";
import { loadPeer } from "./load-peer.js";
import type { SpanLike, TracerLike } from "./peer-types.js";

/**
 * Run hooks that trace each run as an OpenTelemetry span `waymark.run` (with
 * `@opentelemetry/api`, an optional peer dependency): attributes for processor, partition,
 * resume point, processed entities and status, one `batch` event per committed batch, a
 * `quota.wait` event for each quota take that waited and a `quota.pause` event for each 429
 * that paused a key, and an error status when the run fails. Without an SDK registered the API is a no-op.
 *
 * @example
 * await run(summaries, { store, metrics: openTelemetryTracing() });
 */
export function openTelemetryTracing(tracer?: TracerLike): RunMetrics {
  const api = loadPeer<typeof Otel>("@opentelemetry/api", "openTelemetryTracing");
  const using: TracerLike = tracer ?? api.trace.getTracer("waymark");
  const spans = new Map<string, SpanLike>();
  const start = (runId: string, processor: string, partition: string) => {
    const span = using.startSpan("waymark.run", {
      attributes: {
        "waymark.processor": processor,
        "waymark.partition": partition,
        "waymark.run_id": runId,
      },
    });
    spans.set(runId, span);
    return span;
  };
  return {
    runStarted({ runId, processor, partition, resumedFrom, total, attempt }) {
      const span = start(runId, processor, partition);
      span.setAttribute("waymark.attempt", attempt);
      if (resumedFrom !== null) span.setAttribute("waymark.resumed_from", resumedFrom);
      if (total !== null) span.setAttribute("waymark.total", total);
    },
    batchCommitted({ runId, entities, commitMs, completed }) {
      spans.get(runId)?.addEvent("batch", {
        "waymark.entities": entities,
        "waymark.commit_ms": commitMs,
        "waymark.completed": completed,
      });
    },
    quotaTaken({ runId, key, tokens, waitedMs }) {
      if (waitedMs <= 0) return;
      spans.get(runId)?.addEvent("quota.wait", {
        "waymark.quota.key": key,
        "waymark.quota.tokens": tokens,
        "waymark.quota.waited_ms": waitedMs,
      });
    },
    quotaPaused({ runId, key, retryAfterMs, pausedUntil }) {
      spans.get(runId)?.addEvent("quota.pause", {
        "waymark.quota.key": key,
        "waymark.quota.retry_after_ms": retryAfterMs,
        "waymark.quota.paused_until": new Date(pausedUntil).toISOString(),
      });
    },
    runFinished({ runId, processor, partition, status, reason, processed, error }) {
      const span = spans.get(runId) ?? start(runId, processor, partition);
      spans.delete(runId);
      span.setAttribute("waymark.status", status);
      span.setAttribute("waymark.processed", processed);
      if (reason) span.setAttribute("waymark.suspend_reason", reason);
      if (error) {
        span.recordException(error);
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: error.message });
      }
      span.end();
    },
  };
}
