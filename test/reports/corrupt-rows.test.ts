// The reports and the dashboard over a store with one corrupt and one good checkpoint: every
// readable row is listed, the corrupt one is set apart with its field and value (never NaN),
// and the dashboard's reset deletes it without reading it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { collectDashboardData, createDashboardApp } from "../../src/dashboard/app.js";
import { renderSections } from "../../src/dashboard/render.js";
import { resetCheckpoint } from "../../src/reports/actions.js";
import { loadCorrupt, loadRuns, loadStale, loadStatus } from "../../src/reports/load.js";
import { SqliteStore } from "../../src/stores/sqlite/sqlite-store.js";
import { type CorruptStore, corruptStore } from "./corrupt-store.js";

describe("reports over a store with one corrupt checkpoint", { timeout: 30_000 }, () => {
  let fixture: CorruptStore;
  let store: SqliteStore;
  before(async () => {
    fixture = await corruptStore("cursor = NULL");
    store = new SqliteStore(fixture.path);
  });
  after(async () => {
    await store?.close();
    fixture?.cleanup();
  });

  it("listCheckpoints refuses the store; scanCheckpoints sets the corrupt row apart", async () => {
    await assert.rejects(store.listCheckpoints(), { code: "CORRUPT_CHECKPOINT" });
    const scan = await store.scanCheckpoints();
    assert.deepEqual(
      scan.checkpoints.map((c) => c.partition),
      ["good"],
    );
    assert.deepEqual(
      scan.corrupt.map((c) => [c.partition, c.field, c.value]),
      [["bad", "cursor", "null"]],
    );
    assert.match(scan.corrupt[0]?.message ?? "", /no cursor, yet 10 entities.*waymark reset/);
  });

  it("status, runs and stale list the readable rows; loadCorrupt and stale name the corrupt one", async () => {
    const status = await loadStatus(store);
    assert.deepEqual(
      status.map((r) => [r.partition, r.completed, r.percent]),
      [["good", 10, 50]],
    );
    const runs = await loadRuns(store);
    assert.deepEqual(runs.map((r) => [r.partition, r.processed]).sort(), [
      ["bad", 10],
      ["good", 10],
    ]);
    const stale = await loadStale(store);
    assert.deepEqual(
      stale.checkpoints.map((c) => c.partition),
      ["good"],
    );
    assert.deepEqual(
      stale.corrupt.map((c) => c.partition),
      ["bad"],
    );
    assert.deepEqual(
      (await loadCorrupt(store)).map((c) => c.field),
      ["cursor"],
    );
    assert.doesNotMatch(JSON.stringify({ status, runs, stale }), /NaN|null,"total":NaN/);
  });

  it("the dashboard shows the corrupt row with a reset button, and its reset deletes it", async () => {
    const data = await collectDashboardData(store, Date.now());
    const sections = renderSections(data, true);
    assert.match(sections.status ?? "", /Corrupt checkpoints/);
    assert.match(
      sections.status ?? "",
      /data-partition="bad"[\s\S]*cursor[\s\S]*data-action="reset"/,
    );
    assert.doesNotMatch(Object.values(sections).join(""), /NaN/);

    const app = createDashboardApp({ store, allowWrites: true });
    const metrics = await (
      await app.request("http://localhost/metrics", { headers: { host: "localhost" } })
    ).text();
    assert.match(metrics, /^waymark_corrupt_checkpoints 1$/m);
    assert.match(
      metrics,
      /waymark_checkpoint_completed_entities\{processor="ids",partition="good"\} 10/,
    );
    assert.doesNotMatch(metrics, /NaN/);
    const reply = await app.request("http://localhost/actions/reset", {
      method: "POST",
      headers: { host: "localhost", origin: "http://localhost" },
      body: new URLSearchParams({ processor: "ids", partition: "bad", shard: "" }),
    });
    assert.equal(reply.status, 200, await reply.text());
    assert.deepEqual(fixture.keys(), ["ids/good"]);
    assert.equal(
      await resetCheckpoint(store, { processor: "ids", partition: "bad", shard: "" }, Date.now()),
      "missing",
    );
    assert.deepEqual((await store.scanCheckpoints()).corrupt, []);
  });
});
