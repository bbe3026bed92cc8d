import { performance } from "node:perf_hooks";
import { Hono } from "hono";
import { csrf } from "hono/csrf";
import { HTTPException } from "hono/http-exception";
import { streamSSE } from "hono/streaming";
import { checkpointKey, describeKey } from "../core/checkpoint-key.js";
import type { CheckpointStore } from "../core/store/checkpoint-store.js";
import type { ReportStore } from "../core/store/report-store.js";
import type { PromRegistryLike } from "../metrics/peer-types.js";
import { collectGarbage, resetCheckpoint } from "../reports/actions.js";
import { adviceFrom, loadStale } from "../reports/load.js";
import { quotaReport } from "../reports/quotas.js";
import { runsReport } from "../reports/runs.js";
import { rolledStatus } from "../reports/shard-rollup.js";
import { staleReport } from "../reports/stale.js";
import { statsReport } from "../reports/stats.js";
import { savedPerDay } from "./chart.js";
import { hostAllowList, requireToken } from "./guard.js";
import { renderPage } from "./page.js";
import { type DashboardData, renderSections } from "./render.js";
import { storeMetrics } from "./store-metrics.js";

const DAY = 86_400_000;

/** What the dashboard app needs. */
export interface DashboardAppOptions {
  readonly store: CheckpointStore;
  /** Accept reset and gc requests. @default false */
  readonly allowWrites?: boolean;
  /**
   * Host names the dashboard answers to besides `localhost` and IP addresses, e.g. the name
   * of the server it is mounted in. Requests with any other `Host` are refused (403), which
   * stops DNS-rebinding attacks from a page on another site.
   * @default []
   */
  readonly allowedHosts?: readonly string[];
  /**
   * A secret every request must carry (`Authorization: Bearer`, or `?token=` once, then a
   * cookie). `startDashboard` requires one when bound beyond loopback.
   */
  readonly token?: string;
  /** How often live updates are pushed. @default 1000 */
  readonly refreshMs?: number;
  /** A prom-client registry whose metrics `/metrics` shows too (e.g. your runners'). */
  readonly registry?: PromRegistryLike;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * Reads every report the page shows through the read side of the store: seven queries, and an
 * eighth for the quotas of a store that keeps them, however many checkpoints, runs and quota
 * keys there are. The month of history is read once and
 * serves the stats (7 days), the savings chart (14 days) and the advisor (30 days).
 */
export async function collectDashboardData(
  store: ReportStore,
  now: number,
): Promise<DashboardData> {
  const [{ checkpoints, corrupt }, current, completions, backfills, running, runs, month, quotas] =
    await Promise.all([
      store.scanCheckpoints(),
      store.listCurrentRuns(),
      store.listCompletions(),
      store.listBackfills(),
      store.listRuns({ status: "running" }),
      store.listRuns({ limit: 50 }),
      store.listRuns({ since: now - 30 * DAY }),
      store.quotas ? store.quotas.list() : [],
    ]);
  return {
    status: rolledStatus({ checkpoints, current, completions, backfills }, now),
    corrupt,
    quotas: quotaReport(quotas, now),
    runs: runsReport(runs, checkpoints, now),
    stats: statsReport(month, now - 7 * DAY),
    stale: staleReport(checkpoints, running, now, DAY, current, corrupt),
    advice: adviceFrom(month, { windowMs: 30 * DAY }),
    saved: savedPerDay(
      month.filter((r) => r.startedAt >= now - 14 * DAY),
      now,
      14,
    ),
  };
}

/** The dashboard's routes: the page, live updates, `/metrics`, and the guarded write actions. */
export function createDashboardApp(options: DashboardAppOptions): Hono {
  const { store } = options;
  const allowWrites = options.allowWrites ?? false;
  const now = options.now ?? Date.now;
  const refreshMs = options.refreshMs ?? 1000;
  // One read of the store per refresh, however many pages are open.
  let cached: { at: number; sections: Promise<Record<string, string>> } | undefined;
  const sections = () => {
    const at = performance.now();
    if (!cached || at - cached.at >= refreshMs) {
      const rendered = collectDashboardData(store, now()).then((d) =>
        renderSections(d, allowWrites),
      );
      rendered.catch(() => {
        cached = undefined;
      });
      cached = { at, sections: rendered };
    }
    return cached.sections;
  };
  const app = new Hono();
  app.use(hostAllowList(options.allowedHosts ?? []));
  if (options.token !== undefined) app.use(requireToken(options.token));

  app.get("/", async (c) => c.html(renderPage(await sections(), allowWrites)));

  app.get("/events", (c) =>
    streamSSE(c, async (stream) => {
      while (!stream.aborted && !stream.closed) {
        await stream.writeSSE({ event: "update", data: JSON.stringify(await sections()) });
        await stream.sleep(refreshMs);
      }
    }),
  );

  app.get("/metrics", async (c) => {
    const text = await storeMetrics(store, now(), options.registry);
    if (text === null)
      return c.text("Install prom-client to enable /metrics: npm install prom-client\n", 404);
    return c.text(text, 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  });

  app.post("/actions/*", async (c, next) => {
    if (!allowWrites) {
      return c.text(
        "Writes are disabled: start the dashboard with --allow-writes to reset or gc.",
        403,
      );
    }
    await next();
  });
  // A page on another site must not post here through the operator's browser: a write needs
  // an Origin (or Sec-Fetch-Site: same-origin) of this very dashboard.
  const sameOrigin = csrf();
  app.post("/actions/*", async (c, next) => {
    try {
      return await sameOrigin(c, next);
    } catch (error) {
      if (!(error instanceof HTTPException && error.status === 403)) throw error;
      return c.text("Cross-origin write refused: post from the dashboard's own page.", 403);
    }
  });

  app.post("/actions/reset", async (c) => {
    const form = await c.req.parseBody();
    const processor = String(form.processor ?? "");
    const partition = String(form.partition ?? "");
    const shard = String(form.shard ?? "");
    if (!processor || !partition) return c.text("processor and partition are required.", 400);
    const key = checkpointKey(processor, partition, shard);
    const outcome = await resetCheckpoint(store, key, now());
    cached = undefined;
    const code = outcome === "deleted" ? 200 : outcome === "missing" ? 404 : 409;
    return c.text(`reset ${describeKey(key)}: ${outcome}`, code);
  });

  app.post("/actions/gc", async (c) => {
    const form = await c.req.parseBody();
    const olderThanMs = Number(form["older-than"] ?? DAY);
    if (!Number.isFinite(olderThanMs) || olderThanMs <= 0)
      return c.text("older-than must be milliseconds above 0.", 400);
    const at = now();
    const result = await collectGarbage(
      store,
      await loadStale(store, { now: at, olderThanMs }),
      at,
    );
    cached = undefined;
    return c.text(
      `gc: ${result.removed.length} checkpoints removed, ${result.markedFailed.length} dead runs marked failed.`,
    );
  });

  return app;
}
