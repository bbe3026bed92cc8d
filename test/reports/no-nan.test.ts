// Histories at the edges (empty partitions, zero-length runs, a clock that went backwards,
// runs that never committed) must still read as numbers or "-", never NaN or Infinity.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { checkpointKey } from "../../src/core/checkpoint-key.js";
import { collectDashboardData } from "../../src/dashboard/app.js";
import { renderSections } from "../../src/dashboard/render.js";
import { type RunRecord, SqliteStore } from "../../src/index.js";
import { waymark } from "../cli/cli.js";

const NOW = Date.now();
const ODD = /NaN|Infinity|undefined/;

function record(i: number, fields: Partial<RunRecord>): RunRecord {
  const startedAt = NOW - 3_600_000 + i * 1000;
  return {
    ...checkpointKey("edges", `p${i}`),
    runId: `edge-${i}`,
    status: "completed",
    startedAt,
    finishedAt: startedAt,
    resumedFrom: null,
    processed: 0,
    total: 0,
    batches: 0,
    checkpointMs: 0,
    attempt: 1,
    reason: null,
    error: null,
    ...fields,
  };
}

describe("reports at the edges of history", () => {
  let dir: string;
  let url: string;
  let store: SqliteStore;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "waymark-edges-"));
    store = new SqliteStore(join(dir, "waymark.db"));
    url = `sqlite:${store.path}`;
    const history = [
      // Ten empty partitions that completed in no time: enough history for a verdict.
      ...Array.from({ length: 10 }, (_, i) => record(i, {})),
      record(10, { status: "failed", total: 0, error: "Error: empty" }),
      record(11, { status: "failed", total: null, processed: 5, error: "Error: no total" }),
      // A clock that went backwards: finished before it started.
      record(12, { finishedAt: NOW - 7_200_000, processed: 3, total: 3, batches: 1 }),
      record(13, { status: "suspended", reason: "deadline", finishedAt: null }),
      record(14, { resumedFrom: 50, processed: 0, total: 50 }),
      record(15, { status: "running", finishedAt: null, total: 0 }),
    ];
    for (const run of history) await store.recordRun(run);
    // A checkpoint of an empty partition, committed the moment its run started.
    const acquired = await store.acquire({
      ...checkpointKey("edges", "p15"),
      owner: "o",
      runId: "edge-15",
      leaseTtlMs: 60_000,
      now: NOW - 3_600_000 + 15_000,
    });
    assert.ok(acquired.acquired);
    await store.openBatch(acquired.lease).commit({
      kind: "batch",
      processorVersion: 1,
      cursor: null,
      completed: 0,
      total: 0,
      state: null,
      stateCodec: "json",
      fingerprint: null,
      leaseTtlMs: 60_000,
      now: NOW - 3_600_000 + 15_000,
    });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("every command prints numbers or '-'", async () => {
    const commands = [
      ["status"],
      ["runs", "--limit", "50"],
      ["stats"],
      ["stale", "--older-than", "1m"],
      ["advise"],
      ["gc", "--dry-run", "--older-than", "1m"],
    ];
    const results = await Promise.all(commands.map((args) => waymark([...args, "--store", url])));
    for (const [i, result] of results.entries()) {
      const name = (commands[i] ?? []).join(" ");
      assert.equal(result.code, 0, `${name}: ${result.stderr}`);
      assert.doesNotMatch(result.stdout, ODD, name);
    }
    assert.match(
      results[4]?.stdout ?? "",
      /edges: Just retry: a whole run is short\. \[just-retry\]/,
    );
  });

  it("the dashboard's sections too", async () => {
    const sections = renderSections(await collectDashboardData(store, NOW), false);
    for (const [id, markup] of Object.entries(sections)) assert.doesNotMatch(markup, ODD, id);
  });
});
