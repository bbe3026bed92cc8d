import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MemoryStore, type RunRecord, SqliteStore } from "../../src/index.js";
import { advise } from "../../src/reports/advise.js";
import { loadAdvice } from "../../src/reports/load.js";
import { waymark } from "../cli/cli.js";

const MIN = 60_000;
const WEEK = 7 * 86_400_000;
const T0 = Date.now() - 3_600_000;

interface Spec {
  status?: RunRecord["status"];
  durationMs: number;
  processed?: number;
  total?: number | null;
  resumedFrom?: number | null;
  batches?: number;
  checkpointMs?: number;
}

let seq = 0;
/** `count` run records built from `spec`, as a runner would have recorded them. */
function runs(count: number, spec: Spec, processor = "p"): RunRecord[] {
  return Array.from({ length: count }, () => {
    seq++;
    const startedAt = T0 + seq * 1000;
    return {
      runId: `run-${seq}`,
      processor,
      partition: `part-${seq}`,
      shard: "",
      status: spec.status ?? "completed",
      startedAt,
      finishedAt: startedAt + spec.durationMs,
      resumedFrom: spec.resumedFrom ?? null,
      processed: spec.processed ?? 1000,
      total: spec.total === undefined ? 1000 : spec.total,
      batches: spec.batches ?? 20,
      checkpointMs: spec.checkpointMs ?? 0,
      attempt: 1,
      reason: null,
      error: spec.status === "failed" ? "Error: boom" : null,
    };
  });
}

const failedAt = (progress: number, durationMs: number): Spec => ({
  status: "failed",
  processed: progress * 1000,
  durationMs,
});

async function adviceFrom(history: RunRecord[], weeklyRuns?: number) {
  const store = new MemoryStore();
  for (const run of history) await store.recordRun(run);
  const [advice] = await loadAdvice(store, {
    windowMs: WEEK,
    processor: "p",
    ...(weeklyRuns === undefined ? {} : { weeklyRuns }),
  });
  await store.close();
  assert.ok(advice);
  return advice;
}

describe("advise: the decision tree on recorded histories", () => {
  it("with too little history says how many more runs it needs", async () => {
    const a = await adviceFrom(runs(7, { durationMs: 10 * MIN }));
    assert.equal(a.verdict, "insufficient-history");
    assert.equal(a.runsNeeded, 3);
    assert.match(a.summary, /7 finished runs, 3 more needed/);
  });

  it("failure rate under 5%: checkpoints not needed", async () => {
    const a = await adviceFrom([
      ...runs(39, { durationMs: 40 * MIN }),
      ...runs(1, failedAt(0.5, 20 * MIN)),
    ]);
    assert.equal(a.verdict, "not-needed");
    assert.equal(a.figures.failureRate, 1 / 40);
    assert.deepEqual(a.steps[0], {
      check: "failure rate",
      figure: "2.5% (1 of 40 runs failed)",
      outcome: "under 5.0%",
    });
  });

  it("failures only near the start or the end: retries suffice", async () => {
    const a = await adviceFrom([
      ...runs(7, { durationMs: 40 * MIN }),
      ...runs(1, failedAt(0.05, 2 * MIN)),
      ...runs(1, failedAt(0.02, 1 * MIN)),
      ...runs(1, failedAt(0.95, 38 * MIN)),
    ]);
    assert.equal(a.verdict, "retries-suffice");
    assert.equal(a.figures.failuresNearEdges, 3);
    assert.match(a.steps[1]?.figure ?? "", /all 3 before 10.0% or after 90.0%/);
  });

  it("typical duration under 2 min: just retry", async () => {
    const a = await adviceFrom([
      ...runs(8, { durationMs: 1 * MIN }),
      ...runs(2, failedAt(0.5, 0.5 * MIN)),
    ]);
    assert.equal(a.verdict, "just-retry");
    assert.equal(a.figures.typicalDurationMs, 1 * MIN);
    assert.deepEqual(a.steps[2], {
      check: "typical duration",
      figure: "1.0 min",
      outcome: "under 2 min",
    });
  });

  it("2-5 min and frequent failures: consider checkpoints; infrequent: just retry", async () => {
    const frequent = await adviceFrom([
      ...runs(7, { durationMs: 3 * MIN }),
      ...runs(3, failedAt(0.3, 1 * MIN)),
    ]);
    assert.equal(frequent.verdict, "consider");
    assert.match(frequent.steps[2]?.outcome ?? "", /2-5 min, failures frequent/);
    const rare = await adviceFrom([
      ...runs(18, { durationMs: 3 * MIN }),
      ...runs(2, failedAt(0.3, 1 * MIN)),
    ]);
    assert.equal(rare.figures.failureRate, 0.1);
    assert.equal(rare.verdict, "just-retry");
    assert.match(rare.steps[2]?.outcome ?? "", /infrequent/);
  });

  it("over 5 min: checkpoint, with weekly rework, overhead, net saving and batch size by formula", async () => {
    const a = await adviceFrom(
      [
        ...runs(8, { durationMs: 10 * MIN, batches: 20, checkpointMs: 6_000 }),
        ...runs(1, { ...failedAt(0.4, 4 * MIN), batches: 8, checkpointMs: 2_400 }),
        ...runs(1, { ...failedAt(0.6, 6 * MIN), batches: 12, checkpointMs: 3_600 }),
      ],
      14,
    );
    assert.equal(a.verdict, "checkpoint");
    const f = a.figures;
    assert.equal(f.failureRate, 0.2);
    assert.equal(f.avgProgressAtFailure, 0.5);
    assert.equal(f.typicalDurationMs, 10 * MIN);
    // 0.2 failure rate x 0.5 progress at failure x 10 min x 14 runs a week
    close(f.weeklyReworkMs, 0.2 * 0.5 * 600_000 * 14);
    // 54 s of commits over 5,400 s of runs
    close(f.overhead, 0.01);
    close(f.weeklyOverheadMs, 0.01 * 600_000 * 14);
    close(f.weeklyNetSavingMs, 840_000 - 84_000);
    // 54 s over 180 batches; (5,400 s - 54 s) over 9,000 entities
    close(f.commitLatencyMs, 300);
    close(f.perEntityMs, 594);
    assert.equal(f.currentBatchSize, 50);
    assert.equal(f.recommendedBatchSize, Math.ceil(300 / (0.01 * 594)));
    assert.equal(a.overheadWarning, null);
  });

  it("over 30 min: critical", async () => {
    const a = await adviceFrom([
      ...runs(8, { durationMs: 60 * MIN }),
      ...runs(2, failedAt(0.5, 30 * MIN)),
    ]);
    assert.equal(a.verdict, "critical");
    assert.deepEqual(a.steps[2]?.outcome, "over 30 min");
  });

  it("failing runs without totals or without any completed run say what is missing", () => {
    const noTotals = advise(
      "p",
      [
        ...runs(8, { durationMs: 10 * MIN }),
        ...runs(2, { ...failedAt(0.5, 5 * MIN), total: null }),
      ],
      { windowMs: WEEK },
    );
    assert.equal(noTotals.figures.avgProgressAtFailure, null);
    assert.deepEqual(noTotals.steps[1]?.figure, "unknown (no totals)");
    assert.equal(noTotals.verdict, "checkpoint");
    assert.equal(noTotals.figures.weeklyReworkMs, null, "no rework figure without a position");
    const neverCompleted = advise("p", runs(10, failedAt(0.5, 5 * MIN)), { windowMs: WEEK });
    assert.equal(neverCompleted.verdict, "insufficient-history");
    assert.match(neverCompleted.summary, /no run has completed yet/);
  });

  it("scales a resumed run's duration to the whole partition and measures runs per week", () => {
    const history = [
      ...runs(9, { durationMs: 10 * MIN }),
      // Resumed at 500 of 1000: 5 minutes for half the partition is 10 for all of it.
      ...runs(1, { durationMs: 5 * MIN, processed: 500, resumedFrom: 500 }),
      ...runs(2, failedAt(0.5, 5 * MIN)),
    ];
    const a = advise("p", history, { windowMs: 2 * WEEK });
    assert.equal(a.figures.typicalDurationMs, 10 * MIN);
    assert.equal(a.figures.weeklyRuns, 6, "12 finished runs over two weeks");
  });

  it("locates a failure recorded at 0 (its process died) where the run that resumed it started", () => {
    // What gc recorded for dead runs before it read their checkpoints: processed 0. The next
    // attempt on the same checkpoint resumed from 400: that is where each one died.
    const history: RunRecord[] = [];
    for (const [died, resumed] of runs(6, failedAt(0, 20 * MIN)).map((r) => [
      { ...r, attempt: 1 },
      {
        ...runs(1, { durationMs: 12 * MIN, processed: 600, resumedFrom: 400 })[0],
        partition: r.partition,
        attempt: 2,
      },
    ])) {
      history.push(died as RunRecord, resumed as RunRecord);
    }
    const a = advise("p", history, { windowMs: WEEK });
    close(a.figures.avgProgressAtFailure, 0.4);
    assert.equal(a.figures.failuresNearEdges, 0);
    assert.equal(a.verdict, "checkpoint", "mid-run failures of 20-minute runs");
    // A run that started over (no resumedFrom) says nothing about where the failed one died.
    const restarted = history.map((r) =>
      r.attempt === 2 ? { ...r, resumedFrom: null, processed: 1000 } : r,
    );
    close(advise("p", restarted, { windowMs: WEEK }).figures.avgProgressAtFailure, 0);
  });

  it("flags checkpoint overhead over 5% and recommends larger batches", () => {
    const history = [
      ...runs(8, { durationMs: 10 * MIN, batches: 1000, checkpointMs: 60_000 }),
      ...runs(2, { ...failedAt(0.5, 5 * MIN), batches: 500, checkpointMs: 30_000 }),
    ];
    const a = advise("p", history, { windowMs: WEEK });
    close(a.figures.overhead, 0.1);
    assert.ok((a.figures.recommendedBatchSize ?? 0) > (a.figures.currentBatchSize ?? 0));
    assert.match(
      a.overheadWarning ?? "",
      /10.0% \(over 5.0%\): use larger batches, about \d+ entities/,
    );
  });
});

describe("waymark advise", () => {
  it("prints the verdict with the figures behind each branch; a bad --weekly-runs exits 2", async () => {
    const dir = mkdtempSync(join(tmpdir(), "waymark-advise-"));
    const store = new SqliteStore(join(dir, "waymark.db"));
    try {
      for (const run of [
        ...runs(8, { durationMs: 10 * MIN, checkpointMs: 6_000 }),
        ...runs(2, failedAt(0.5, 5 * MIN)),
      ]) {
        await store.recordRun(run);
      }
      const url = `sqlite:${join(dir, "waymark.db")}`;
      const out = await waymark(["advise", "p", "--weekly-runs", "14", "--store", url]);
      assert.equal(out.code, 0, out.stderr);
      assert.match(
        out.stdout,
        /^p: Checkpoint: long runs fail mid-way. The saving is under an hour a week. \[checkpoint\]/,
      );
      assert.match(out.stdout, /failure rate: 20.0% \(2 of 10 runs failed\)/);
      assert.match(out.stdout, /typical duration: 10.0 min -> over 5 min/);
      assert.match(out.stdout, /weekly waste without checkpoints: 14\.0 min/);
      const bad = await waymark(["advise", "--weekly-runs", "many", "--store", url]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--weekly-runs "many"/);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function close(actual: number | null, expected: number): void {
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-6, `${actual} ≈ ${expected}`);
}
