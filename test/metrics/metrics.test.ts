import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SpanStatusCode } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { Registry } from "prom-client";
import {
  defineProcessor,
  InvalidOptionError,
  openTelemetryTracing,
  prometheusMetrics,
  run,
  SqliteStore,
} from "../../src/index.js";
import { noBackoff } from "../support/time.js";

describe("metrics from real runs", () => {
  let dir: string;
  let store: SqliteStore;
  const registry = new Registry();
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "waymark-metrics-"));
    store = new SqliteStore(join(dir, "waymark.db"));
    let failAt = -1;
    const suspend = new AbortController();
    const alpha = defineProcessor<{ id: number }>({
      name: "alpha",
      batchSize: 10,
      entities: ({ after }) =>
        Array.from({ length: 100 }, (_, i) => ({ id: i + 1 })).filter(
          (e) => after === null || e.id > (after as number),
        ),
      id: (e) => e.id,
      processBatch: (batch, ctx) => {
        if (batch.some((e) => e.id === failAt)) throw new Error("Quota exceeded");
        if (ctx.partition === "p3" && ctx.batchNumber === 3) suspend.abort();
      },
    });
    const metrics = [prometheusMetrics(registry), openTelemetryTracing(provider.getTracer("test"))];
    const go = (partition: string, signal?: AbortSignal) =>
      run(alpha, {
        store,
        partition,
        logger: false,
        metrics,
        sleep: noBackoff,
        ...(signal ? { signal } : {}),
      });
    assert.equal((await go("p1")).status, "completed");
    failAt = 45;
    assert.equal((await go("p2")).status, "failed");
    failAt = -1;
    assert.equal((await go("p2")).status, "completed");
    assert.equal((await go("p3", suspend.signal)).status, "suspended");
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the Prometheus registry shows the expected counters after the runs", async () => {
    const text = await registry.metrics();
    const value = (series: string) => {
      const line = text.split("\n").find((l) => l.startsWith(`${series} `));
      assert.ok(line, `${series} in\n${text}`);
      return Number(line.split(" ")[1]);
    };
    // 100 + 40 (before the failure) + 60 (resumed) + 30 (suspended)
    assert.equal(value('waymark_entities_processed_total{processor="alpha"}'), 230);
    assert.equal(value('waymark_batches_total{processor="alpha"}'), 23);
    assert.equal(value('waymark_checkpoint_commit_seconds_count{processor="alpha"}'), 23);
    assert.ok(value('waymark_checkpoint_commit_seconds_sum{processor="alpha"}') > 0);
    assert.equal(value('waymark_resumes_total{processor="alpha"}'), 1);
    assert.equal(value('waymark_entities_saved_by_resume_total{processor="alpha"}'), 40);
    assert.equal(value('waymark_suspensions_total{processor="alpha",reason="signal"}'), 1);
    assert.equal(value('waymark_failures_total{processor="alpha"}'), 1);
    assert.equal(value('waymark_runs_total{processor="alpha",status="completed"}'), 2);
  });

  it("registering twice on one registry reuses the metrics", () => {
    assert.doesNotThrow(() => prometheusMetrics(registry));
  });

  it("OpenTelemetry: one span per run with its batches, resume point and status", () => {
    const spans = exporter.getFinishedSpans();
    assert.deepEqual(
      spans.map((s) => [
        s.attributes["waymark.partition"],
        s.attributes["waymark.status"],
        s.events.length,
      ]),
      [
        ["p1", "completed", 10],
        // four batches and the recorded exception
        ["p2", "failed", 5],
        ["p2", "completed", 6],
        ["p3", "suspended", 3],
      ],
    );
    assert.equal(spans[1]?.status.code, SpanStatusCode.ERROR);
    assert.equal(spans[2]?.attributes["waymark.resumed_from"], 40);
    assert.equal(spans[3]?.attributes["waymark.suspend_reason"], "signal");
    assert.ok(spans.every((s) => s.name === "waymark.run"));
  });

  it("a metrics option without hooks is rejected, naming it", async () => {
    const p = defineProcessor({ name: "x", entities: () => [], id: String, processBatch() {} });
    await assert.rejects(
      run(p, { store, metrics: {} as never }),
      (e: unknown) => e instanceof InvalidOptionError && e.option === "metrics",
    );
  });

  it("a throwing hook is logged and the run still completes", async () => {
    const p = defineProcessor({
      name: "y",
      entities: () => [{ id: 1 }],
      id: (e: { id: number }) => e.id,
      processBatch() {},
    });
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (m: string) => warnings.push(m) };
    const result = await run(p, {
      store,
      logger,
      metrics: {
        batchCommitted() {
          throw new Error("collector down");
        },
      },
    });
    assert.equal(result.status, "completed");
    assert.deepEqual(warnings, ["Metrics hook batchCommitted failed: collector down"]);
  });
});
