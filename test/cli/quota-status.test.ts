import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { Registry } from "prom-client";
import { collectDashboardData } from "../../src/dashboard/app.js";
import { renderSections } from "../../src/dashboard/render.js";
import { storeMetrics } from "../../src/dashboard/store-metrics.js";
import {
  defineProcessor,
  openTelemetryTracing,
  prometheusMetrics,
  RateLimitedError,
  run,
  SqliteStore,
} from "../../src/index.js";
import { virtualTime } from "../support/virtual-time.js";
import { waymark } from "./cli.js";

/**
 * What operators see of a quota: `waymark status` (table and --json), the dashboard, its
 * /metrics gauges, and the run hooks' Prometheus counters and OpenTelemetry events.
 */
describe("a quota's limit, use, pause and waiting runners are visible", () => {
  let dir: string;
  let store: SqliteStore;
  const registry = new Registry();
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  // The run happened ten minutes ago; a runner is waiting now.
  const clock = virtualTime(Date.now() - 600_000);
  let pausedUntil = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "waymark-quota-status-"));
    store = new SqliteStore(join(dir, "waymark.db"));
    let answered = 0;
    const players = defineProcessor<number>({
      name: "player-game-summary",
      batchSize: 10,
      quota: { key: "nba-api", limit: 20, per: "1s", burst: 10 },
      entities: () => Array.from({ length: 60 }, (_, i) => i + 1),
      id: (n) => n,
      processBatch() {
        // The third batch gets a 429 once: every runner of nba-api pauses for a minute.
        if (++answered === 3) throw new RateLimitedError({ retryAfterMs: 60_000 });
      },
    });
    const result = await run(players, {
      store,
      partition: "2024-01-15",
      logger: false,
      now: clock.now,
      sleep: clock.sleep,
      metrics: [prometheusMetrics(registry), openTelemetryTracing(provider.getTracer("test"))],
    });
    assert.equal(result.status, "completed");
    // Another 429 now, and a runner waiting for its turns after that pause.
    const spec = { key: "nba-api", limit: 20, perMs: 1000, burst: 10, adaptive: false };
    const now = Date.now();
    pausedUntil = (await store.quotas.pause({ ...spec, retryAfterMs: 120_000, now })).pausedUntil;
    await store.quotas.take({ ...spec, tokens: 5, credit: 0, owner: "run-waiting", now });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("waymark status prints a quota table under the checkpoints, and --json has it", async () => {
    const url = `sqlite:${store.path}`;
    const [table, json] = await Promise.all([
      waymark(["status", "--store", url]),
      waymark(["status", "--store", url, "--json"]),
    ]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout,
      /QUOTA\s+LIMIT\s+RATE NOW\s+USED \(1 MIN\)\s+PAUSED UNTIL\s+PAUSES\s+WAITING/,
    );
    const until = new Date(pausedUntil).toISOString();
    assert.match(
      table.stdout,
      new RegExp(`nba-api\\s+20/1s\\s+limit\\s+\\S+/s\\s+${until}\\s+2\\s+1`),
    );
    const { quotas } = JSON.parse(json.stdout) as { quotas: Array<Record<string, unknown>> };
    assert.equal(quotas.length, 1);
    const [nba] = quotas;
    assert.deepEqual(
      [nba?.key, nba?.limit, nba?.perMs, nba?.burst, nba?.pausedUntil, nba?.pauses, nba?.waiting],
      ["nba-api", 20, 1000, 10, pausedUntil, 2, 1],
    );
    assert.equal(nba?.usedPerSecond, 0.1, "the waiting runner's 5 tokens in the last minute");
  });

  it("the dashboard shows the quota under the status, and /metrics its gauges", async () => {
    const sections = renderSections(await collectDashboardData(store, Date.now()), false);
    assert.match(sections.status ?? "", /<h3>Quotas<\/h3>/);
    assert.match(sections.status ?? "", /<tr class="quota paused" data-key="nba-api">/);
    assert.match(sections.status ?? "", /<td>nba-api<\/td><td>20\/1s<\/td>/);
    const text = (await storeMetrics(store, Date.now())) ?? "";
    assert.match(text, /waymark_quota_limit_per_second\{key="nba-api"\} 20/);
    assert.match(text, /waymark_quota_waiting_runners\{key="nba-api"\} 1/);
    assert.match(text, /waymark_quota_pauses\{key="nba-api"\} 2/);
    assert.match(
      text,
      new RegExp(`waymark_quota_paused_until_seconds\\{key="nba-api"\\} ${pausedUntil / 1000}`),
    );
  });

  it("Prometheus counts tokens, waits and pauses; OpenTelemetry records them on the run's span", async () => {
    const text = await registry.metrics();
    const value = (series: string) => {
      const line = text.split("\n").find((l) => l.startsWith(`${series} `));
      assert.ok(line, `${series} in\n${text}`);
      return Number(line.split(" ")[1]);
    };
    const labels = '{processor="player-game-summary",key="nba-api"}';
    // 6 batches of 10, and the paused one tried again: 70 tokens.
    assert.equal(value(`waymark_quota_tokens_total${labels}`), 70);
    assert.equal(value(`waymark_quota_pauses_total${labels}`), 1);
    assert.ok(value(`waymark_quota_waits_total${labels}`) >= 3);
    // The pause alone is a minute of waiting.
    assert.ok(value(`waymark_quota_wait_seconds_total${labels}`) >= 60);
    const [span] = exporter.getFinishedSpans();
    const names = span?.events.map((e) => e.name) ?? [];
    assert.equal(names.filter((n) => n === "quota.pause").length, 1);
    assert.ok(names.filter((n) => n === "quota.wait").length >= 3);
    const pause = span?.events.find((e) => e.name === "quota.pause");
    assert.equal(pause?.attributes?.["waymark.quota.retry_after_ms"], 60_000);
  });
});
