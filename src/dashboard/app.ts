import { performance } from "node:perf_hooks";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { PromRegistryLike } from "../metrics/peer-types.js";
import { collectGarbage, resetCheckpoint } from "../reports/actions.js";
import { loadAdvice, loadStale, loadStats, loadStatus } from "../reports/load.js";
import type { CheckpointStore } from "../stores/store.js";
import { savedPerDay } from "./chart.js";
import { renderPage } from "./page.js";
import { type DashboardData, renderSections } from "./render.js";
import { storeMetrics } from "./store-metrics.js";

const DAY = 86_400_000;

/** What the dashboard app needs. */
export interface DashboardAppOptions {
  readonly store: CheckpointStore;
  /** Accept reset and gc requests. @default false */
  readonly allowWrites?: boolean;
  /** How often live updates are pushed. @default 1000 */
  readonly refreshMs?: number;
  /** A prom-client registry whose metrics `/metrics` shows too (e.g. your runners'). */
  readonly registry?: PromRegistryLike;
  /** @default Date.now */
  readonly now?: () => number;
}

/** Reads every report the page shows, through the store API. */
export async function collectDashboardData(
  store: CheckpointStore,
  now: number,
): Promise<DashboardData> {
  const [status, runs, stats, stale, advice, recent] = await Promise.all([
    loadStatus(store, now),
    store.listRuns({ limit: 50 }),
    loadStats(store, now - 7 * DAY),
    loadStale(store, now, DAY),
    loadAdvice(store, now - 30 * DAY, { windowMs: 30 * DAY }),
    store.listRuns({ since: now - 14 * DAY }),
  ]);
  return { status, runs, stats, stale, advice, saved: savedPerDay(recent, now, 14) };
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
    // A page on another site must not be able to post here through the operator's browser.
    const origin = c.req.header("origin");
    if (origin && new URL(origin).host !== c.req.header("host")) {
      return c.text("Cross-origin write refused.", 403);
    }
    await next();
  });

  app.post("/actions/reset", async (c) => {
    const form = await c.req.parseBody();
    const processor = String(form.processor ?? "");
    const partition = String(form.partition ?? "");
    if (!processor || !partition) return c.text("processor and partition are required.", 400);
    const outcome = await resetCheckpoint(store, { processor, partition }, now());
    cached = undefined;
    const code = outcome === "deleted" ? 200 : outcome === "missing" ? 404 : 409;
    return c.text(`reset ${processor}/${partition}: ${outcome}`, code);
  });

  app.post("/actions/gc", async (c) => {
    const form = await c.req.parseBody();
    const olderThanMs = Number(form["older-than"] ?? DAY);
    if (!Number.isFinite(olderThanMs) || olderThanMs <= 0)
      return c.text("older-than must be milliseconds above 0.", 400);
    const at = now();
    const result = await collectGarbage(store, await loadStale(store, at, olderThanMs), at);
    cached = undefined;
    return c.text(
      `gc: ${result.removed.length} checkpoints removed, ${result.markedFailed.length} dead runs marked failed.`,
    );
  });

  return app;
}
