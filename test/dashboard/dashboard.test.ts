import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { Registry } from "prom-client";
import { type Dashboard, startDashboard } from "../../src/dashboard/index.js";
import {
  defineProcessor,
  prometheusMetrics,
  type RunResult,
  run,
  SqliteStore,
} from "../../src/index.js";
import { chromiumPath, NO_BROWSER } from "../support/chromium.js";
import { noBackoff } from "../support/time.js";

const XSS = "<script>alert(1)</script>";

/** A counting semaphore: each batch of the live run waits for one permit. */
function permits() {
  let available = 0;
  let wake: (() => void) | undefined;
  return {
    async take() {
      while (available === 0) await new Promise<void>((resolve) => (wake = resolve));
      available--;
    },
    give(n: number) {
      available += n;
      wake?.();
    },
  };
}

describe("dashboard in headless Chromium", { skip: NO_BROWSER }, () => {
  let dir: string;
  let store: SqliteStore;
  let browser: Browser;
  let readOnly: Dashboard;
  let page: Page;
  const registry = new Registry();
  const dialogs: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "waymark-dashboard-"));
    store = new SqliteStore(join(dir, "waymark.db"));
    // A processor whose name is markup: it must show as text. It fails at 15 with 10 committed.
    const hostile = defineProcessor<{ id: number }>({
      name: XSS,
      batchSize: 10,
      entities: () => Array.from({ length: 30 }, (_, i) => ({ id: i + 1 })),
      id: (e) => e.id,
      processBatch: (batch) => {
        if (batch.some((e) => e.id === 15)) throw new Error(`<img src=x onerror=alert(2)>`);
      },
    });
    assert.equal(
      (await run(hostile, { store, partition: "<b>p</b>", logger: false, sleep: noBackoff }))
        .status,
      "failed",
    );
    readOnly = await startDashboard({ store, port: 0, refreshMs: 100, registry });
    browser = await chromium.launch({
      executablePath: chromiumPath(),
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
  });

  after(async () => {
    await browser?.close();
    await readOnly?.close();
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("loads the page with every section", async () => {
    const response = await page.goto(readOnly.url);
    assert.equal(response?.status(), 200);
    assert.equal(await page.title(), "waymark");
    for (const heading of [
      "Active checkpoints",
      "Advisor",
      "Work saved (7 days)",
      "Stale",
      "Recent runs",
    ]) {
      assert.equal(await page.getByRole("heading", { name: heading }).count(), 1, heading);
    }
    assert.equal(
      await page.locator("svg[aria-label='Entities saved by resumes per day']").count(),
      1,
    );
    assert.match(new URL(readOnly.url).hostname, /^127\.0\.0\.1$/, "binds 127.0.0.1 by default");
  });

  it("shows a running processor's progress advancing while the run proceeds", async () => {
    const gate = permits();
    const live = defineProcessor<{ id: number }>({
      name: "live",
      batchSize: 10,
      entities: () => Array.from({ length: 100 }, (_, i) => ({ id: i + 1 })),
      id: (e) => e.id,
      processBatch: () => gate.take(),
    });
    const running: Promise<RunResult> = run(live, {
      store,
      partition: "today",
      logger: false,
      metrics: prometheusMetrics(registry),
    });
    const done = page.locator('tr[data-processor="live"] td.done');
    gate.give(1);
    await done.filter({ hasText: "10/100" }).waitFor({ timeout: 10_000 });
    const before = await page.locator('tr[data-processor="live"] .bar div').getAttribute("style");
    gate.give(4);
    await done.filter({ hasText: "50/100" }).waitFor({ timeout: 10_000 });
    const later = await page.locator('tr[data-processor="live"] .bar div').getAttribute("style");
    assert.equal(before, "width:10%");
    assert.equal(later, "width:50%");
    mkdirSync("test-artifacts", { recursive: true });
    await page.screenshot({ path: join("test-artifacts", "dashboard.png"), fullPage: true });
    gate.give(100);
    assert.equal((await running).status, "completed");
    await page.locator('tr[data-processor="live"]').waitFor({ state: "detached", timeout: 10_000 });
  });

  it("renders a processor named <script> as text and runs none of it", async () => {
    const cell = page.locator("td.processor", { hasText: XSS });
    assert.equal(await cell.count(), 1);
    assert.equal(await cell.textContent(), XSS);
    assert.ok(await page.getByText("<b>p</b>").first().isVisible());
    assert.ok((await page.content()).includes("&lt;img src=x onerror=alert(2)&gt;"));
    assert.equal(await page.locator("script").count(), 1, "only the page's own script");
    assert.deepEqual(dialogs, []);
  });

  it("refuses writes without --allow-writes", async () => {
    await page.getByRole("button", { name: "Run gc" }).click();
    await page.locator("#message", { hasText: "403" }).waitFor({ timeout: 5_000 });
    assert.match((await page.locator("#message").textContent()) ?? "", /--allow-writes/);
    const status = await page.evaluate(async (processor) => {
      const body = new URLSearchParams({ processor, partition: "<b>p</b>" });
      return (await fetch("actions/reset", { method: "POST", body })).status;
    }, XSS);
    assert.equal(status, 403);
    assert.ok(await store.getCheckpoint({ processor: XSS, partition: "<b>p</b>", shard: "" }));
  });

  it("with --allow-writes resets from the page, and refuses a cross-origin post", async () => {
    const writable = await startDashboard({ store, port: 0, refreshMs: 100, allowWrites: true });
    try {
      const foreign = await fetch(`${writable.url}actions/gc`, {
        method: "POST",
        headers: { origin: "http://evil.example" },
      });
      assert.equal(foreign.status, 403);
      const writer = await browser.newPage();
      await writer.goto(writable.url);
      await writer.locator(`tr[data-partition="<b>p</b>"] button`, { hasText: "Reset" }).click();
      await writer.locator("#message", { hasText: "200" }).waitFor({ timeout: 5_000 });
      assert.equal(
        await store.getCheckpoint({ processor: XSS, partition: "<b>p</b>", shard: "" }),
        null,
      );
      await writer.close();
    } finally {
      await writable.close();
    }
  });

  it("/metrics shows the store's gauges and the runners' counters", async () => {
    const text = await (await fetch(`${readOnly.url}metrics`)).text();
    assert.match(text, /waymark_entities_processed_total\{processor="live"\} 100/);
    assert.match(text, /waymark_batches_total\{processor="live"\} 10/);
    assert.match(text, /waymark_stale_checkpoints 0/);
  });
});
