// A small ESM consumer of the packed package, type-checked strictly (skipLibCheck false) in a
// project without the optional peers, then run. Every check throws on failure.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Advice,
  defineProcessor,
  loadAdvice,
  loadRuns,
  loadStatus,
  openStore,
  type PgTx,
  prometheusMetrics,
  type RunResult,
  run,
  WaymarkError,
} from "waymark";
import { createDashboardApp } from "waymark/dashboard";

const require = createRequire(import.meta.url);
const sqliteLoaded = () =>
  Object.keys(require.cache).some((path) => path.includes("better-sqlite3"));

interface Row {
  id: number;
  value: number;
}
const rows: Row[] = Array.from({ length: 120 }, (_, i) => ({ id: i + 1, value: i }));

// No third type argument: it never touches ctx.tx, so it runs on every store. `after` is a
// number, as the entity's id.
const sums = defineProcessor<Row, { total: number }>({
  name: "consumer-sums",
  batchSize: 25,
  entities: ({ after }) => rows.filter((r) => after === null || r.id > after),
  id: (row) => row.id,
  initialState: () => ({ total: 0 }),
  processBatch(batch, ctx) {
    for (const row of batch) ctx.state.total += row.value;
  },
});

assert.equal(sqliteLoaded(), false, 'import "waymark" must not load better-sqlite3');
const memory = await openStore("memory:");
const inMemory: RunResult = await run(sums, { store: memory, logger: false });
// The published types tie ctx.tx to the store: a PgTx processor on a memory store is refused.
const onPostgres = defineProcessor<Row, undefined, PgTx>({
  name: "consumer-pg",
  entities: () => rows,
  id: (row) => row.id,
  async processBatch(batch, ctx) {
    for (const row of batch) await ctx.tx.query("SELECT $1", [row.id]);
  },
});
// @ts-expect-error a MemoryStore gives MemoryTx, not PgTx
void (() => run(onPostgres, { store: memory }));
assert.equal(inMemory.status, "completed");
await memory.close();
assert.equal(sqliteLoaded(), false, "a memory store must not load better-sqlite3");

const dir = mkdtempSync(join(tmpdir(), "waymark-consumer-"));
try {
  const store = await openStore(`sqlite:${join(dir, "waymark.db")}`);
  const result = await run(sums, { store, logger: false });
  assert.equal(result.status, "completed");
  assert.equal(result.processed, 120);
  assert.equal(sqliteLoaded(), true, "opening a SQLite store loads better-sqlite3");
  await store.close();

  // The reports, over a store opened read-only; a missing store is an error, not a new file.
  const reports = await openStore(`sqlite:${join(dir, "waymark.db")}`, { readOnly: true });
  const [last] = await loadRuns(reports, { limit: 1 });
  assert.equal(last?.status, "completed");
  assert.equal(last?.processed, 120);
  assert.deepEqual(await loadStatus(reports), []);
  const advice: Advice[] = await loadAdvice(reports);
  assert.equal(advice[0]?.verdict, "insufficient-history");
  await reports.close();
  await assert.rejects(
    openStore(`sqlite:${join(dir, "typo", "waymark.db")}`, { readOnly: true }),
    (error: unknown) => error instanceof WaymarkError && error.code === "STORE_NOT_FOUND",
  );
  assert.equal(existsSync(join(dir, "typo")), false);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// The dashboard mounts as a fetch handler, and refuses a Host that is not its own.
const dashboardStore = await openStore("memory:");
const dashboard = createDashboardApp({ store: dashboardStore });
const page = await dashboard.fetch(
  new Request("http://127.0.0.1/", { headers: { host: "127.0.0.1" } }),
);
assert.equal(page.status, 200);
assert.match(await page.text(), /No active checkpoints/);
const foreign = await dashboard.fetch(new Request("http://evil.example/"));
assert.equal(foreign.status, 403);
await dashboardStore.close();

// An optional peer that is not installed is a typed error that says how to install it.
assert.throws(
  () => prometheusMetrics(),
  (error: unknown) => error instanceof WaymarkError && error.code === "MISSING_PEER",
);
console.log("consumer: ESM import, types and runs work without optional peers");
