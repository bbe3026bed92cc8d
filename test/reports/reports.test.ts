import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { collectGarbage, resetCheckpoint } from "../../src/reports/actions.js";
import { loadStale, loadStats, loadStatus } from "../../src/reports/load.js";
import { buildHistory, DAY, type History } from "./history.js";

describe("reports on a SQLite store filled by real runs", () => {
  let h: History;
  before(async () => {
    h = await buildHistory();
  });
  after(async () => {
    await h?.cleanup();
  });

  it("status: progress, rate, ETA, age, lease holder and resumes of every checkpoint", async () => {
    const rows = await loadStatus(h.store, { now: h.now });
    const byKey = new Map(rows.map((r) => [`${r.processor}/${r.partition}`, r]));
    assert.deepEqual([...byKey.keys()].sort(), [
      "alpha/p3",
      "alpha/p4",
      "beta/b1",
      "delta/d1",
      "gamma/g1",
    ]);
    const p3 = byKey.get("alpha/p3");
    // Suspended after 30 entities at 100 ms each: 10/s, nobody holds it, so no ETA.
    assert.equal(p3?.completed, 30);
    assert.equal(p3?.percent, 30);
    assert.equal(p3?.ratePerSecond, 10);
    assert.equal(p3?.etaMs, null);
    assert.equal(p3?.leaseHolder, null);
    assert.equal(p3?.ageMs, 60_000 - 3_000);
    assert.equal(p3?.resumes, 0);
    // Resumed once from 10: its current attempt did 20 in 2 s.
    const p4 = byKey.get("alpha/p4");
    assert.equal(p4?.completed, 30);
    assert.equal(p4?.resumes, 1);
    assert.equal(p4?.ratePerSecond, 10);
    // Beta failed two days ago after 20 entities at 50 ms: 20/s.
    assert.equal(byKey.get("beta/b1")?.ratePerSecond, 20);
    assert.equal(byKey.get("beta/b1")?.ageMs, 2 * DAY + 60_000 - 1_000);
    // Gamma holds a live lease: 20 at 200 ms = 5/s, 80 left -> ETA 16 s.
    const g1 = byKey.get("gamma/g1");
    assert.equal(g1?.ratePerSecond, 5);
    assert.equal(g1?.etaMs, 16_000);
    assert.match(g1?.leaseHolder ?? "", /:\d+:/);
    // Delta's process was killed: its lease expired, nobody holds it.
    assert.equal(byKey.get("delta/d1")?.leaseHolder, null);
    assert.equal(byKey.get("delta/d1")?.completed, 20);
    assert.deepEqual(
      (await loadStatus(h.store, { now: h.now, processor: "alpha" }))
        .map((r) => r.partition)
        .sort(),
      ["p3", "p4"],
    );
  });

  it("stats: resumed runs, entities and time saved, overhead and net saving per processor", async () => {
    const runs = await h.store.listRuns({ processor: "alpha" });
    const overhead = runs.reduce((sum, r) => sum + r.checkpointMs, 0);
    const [alpha, beta, delta, gamma] = await loadStats(h.store, { since: h.now - 7 * DAY });
    assert.equal(alpha?.processor, "alpha");
    assert.equal(alpha?.runs, 6);
    assert.equal(alpha?.completedRuns, 2);
    assert.equal(alpha?.failedRuns, 3);
    assert.equal(alpha?.suspendedRuns, 1);
    assert.equal(alpha?.resumedRuns, 2);
    assert.equal(alpha?.entitiesSaved, 40 + 10);
    // (10 s + 6 s) / (100 + 60) entities of completed runs.
    assert.equal(alpha?.perEntityMs, 100);
    assert.equal(alpha?.timeSavedMs, 5_000);
    assert.ok(overhead > 0);
    assert.equal(alpha?.checkpointOverheadMs, overhead);
    assert.equal(alpha?.netSavingMs, 5_000 - overhead);
    assert.equal(beta?.runs, 1);
    assert.equal(beta?.entitiesSaved, 0);
    assert.equal(beta?.perEntityMs, null);
    assert.equal(beta?.netSavingMs, null);
    assert.equal(delta?.processor, "delta");
    assert.equal(gamma?.processor, "gamma");
    // A one-day window leaves out the runs of two days ago.
    assert.deepEqual(
      (await loadStats(h.store, { since: h.now - DAY })).map((s) => s.processor),
      ["alpha"],
    );
  });

  it("stale: old checkpoints without a live lease and the run of the killed process", async () => {
    const report = await loadStale(h.store, { now: h.now, olderThanMs: DAY });
    assert.deepEqual(
      report.checkpoints.map((c) => `${c.processor}/${c.partition}@${c.completed}`).sort(),
      ["beta/b1@20", "delta/d1@20"],
      "gamma's checkpoint is as old but its lease is live",
    );
    assert.equal(report.runs.length, 1);
    const [dead] = report.runs;
    assert.equal(dead?.run.processor, "delta");
    assert.equal(dead?.cause, "lease-expired");
    assert.equal(dead?.processed, 20);
    assert.equal(dead?.lastSeenAt, h.t0 - 2 * DAY + 2_000);
    // A threshold of three days lists nothing.
    const none = await loadStale(h.store, { now: h.now, olderThanMs: 3 * DAY });
    assert.equal(none.checkpoints.length + none.runs.length, 0);
  });

  it("gc removes exactly what stale listed, marks the dead run failed, spares the live lease", async () => {
    const report = await loadStale(h.store, { now: h.now, olderThanMs: DAY });
    const before = await h.store.listCheckpoints();
    const result = await collectGarbage(h.store, report, h.now);
    assert.deepEqual(result.removed, report.checkpoints);
    assert.deepEqual(result.kept, []);
    const left = await h.store.listCheckpoints();
    assert.deepEqual(
      left.map((c) => `${c.processor}/${c.partition}`).sort(),
      before
        .map((c) => `${c.processor}/${c.partition}`)
        .filter((k) => k !== "beta/b1" && k !== "delta/d1")
        .sort(),
    );
    assert.ok(
      left.some((c) => c.processor === "gamma"),
      "the live lease survives",
    );
    const [dead] = await h.store.listRuns({ processor: "delta" });
    assert.equal(dead?.status, "failed");
    assert.equal(dead?.processed, 20);
    assert.equal(dead?.finishedAt, h.t0 - 2 * DAY + 2_000);
    assert.match(dead?.error ?? "", /Abandoned/);
    const after = await loadStale(h.store, { now: h.now, olderThanMs: DAY });
    assert.equal(after.checkpoints.length + after.runs.length, 0);
  });

  it("gc never removes a checkpoint whose lease was taken after the listing", async () => {
    // Listed with a clock far in the future, where even gamma's lease has run out.
    const late = h.now + 5 * DAY;
    const report = await loadStale(h.store, { now: late, olderThanMs: DAY });
    assert.ok(report.checkpoints.some((c) => c.processor === "gamma"));
    const result = await collectGarbage(h.store, report, h.now);
    assert.deepEqual(
      result.kept.map((c) => c.processor),
      ["gamma"],
    );
    assert.ok(await h.store.getCheckpoint({ processor: "gamma", partition: "g1", shard: "" }));
  });

  it("reset refuses a live lease and reports a missing checkpoint", async () => {
    const gamma = { processor: "gamma", partition: "g1", shard: "" };
    assert.equal(await resetCheckpoint(h.store, gamma, h.now), "leased");
    assert.equal(
      await resetCheckpoint(h.store, { processor: "nope", partition: "x", shard: "" }, h.now),
      "missing",
    );
    const result = await h.releaseGamma();
    assert.equal(result.status, "completed");
    assert.equal(result.resumedFrom, null);
    assert.equal(result.processed, 100);
  });
});
