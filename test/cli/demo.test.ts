import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { DemoReport } from "../../src/demo/demo.js";
import { openStore, type RunRecord } from "../../src/index.js";
import { waymark } from "./cli.js";

describe("waymark demo", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-demo-test-"));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs both scenarios in under 15 s and reports figures that match the run history", async () => {
    const url = `sqlite:${join(dir, "demo.db")}`;
    const result = await waymark(["demo", "--json", "--store", url]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.elapsedMs < 15_000, `the demo took ${result.elapsedMs} ms`);
    const report = JSON.parse(result.stdout) as DemoReport;

    const store = await openStore(url);
    try {
      const history = await store.listRuns();
      const baseline = history.filter((r) => r.processor === report.withoutCheckpoints.processor);
      const resumed = history.filter((r) => r.processor === report.withCheckpoints.processor);
      const sum = (runs: RunRecord[]) => runs.reduce((n, r) => n + r.processed, 0);

      // Without checkpoints: failed at 300, then the retry did all 450 again.
      assert.deepEqual(
        baseline.map((r) => [r.status, r.processed, r.resumedFrom]),
        [
          ["completed", 450, null],
          ["failed", 300, null],
        ],
      );
      // With checkpoints: failed at 300, then the retry resumed there and did the last 150.
      assert.deepEqual(
        resumed.map((r) => [r.status, r.processed, r.resumedFrom]),
        [
          ["completed", 150, 300],
          ["failed", 300, null],
        ],
      );
      assert.match(resumed[1]?.error ?? "", /QuotaExceededError/);

      // Every figure in the report is the history's, not a constant.
      assert.equal(report.withoutCheckpoints.processed, sum(baseline));
      assert.equal(report.withCheckpoints.processed, sum(resumed));
      assert.equal(report.saved.entities, sum(baseline) - sum(resumed));
      assert.equal(report.saved.entities, 300);
      assert.equal(report.saved.share, 300 / 750);
      for (const mode of [report.withoutCheckpoints, report.withCheckpoints]) {
        for (const run of mode.runs) {
          const row = history.find((r) => r.runId === run.runId);
          assert.ok(row, `run ${run.runId} is in history`);
          assert.equal(run.processed, row.processed);
          assert.equal(run.durationMs, (row.finishedAt ?? 0) - row.startedAt);
        }
        const total = mode.runs.reduce((ms, r) => ms + r.durationMs, 0);
        assert.equal(mode.durationMs, total);
      }
      const { withoutCheckpoints: w, withCheckpoints: c } = report;
      assert.equal(report.saved.durationMs, w.durationMs - c.durationMs);
      assert.ok(report.saved.durationMs > 0, "resuming took less time than starting over");

      // Both scenarios finished, so no checkpoint is left behind.
      assert.deepEqual(await store.listCheckpoints(), []);
    } finally {
      await store.close();
    }
  });

  it("tells the story: the checkpoint found at 300/450, both timelines and the saving", async () => {
    const result = await waymark(["demo", "--batch-ms", "5"]);
    assert.equal(result.code, 0, result.stderr);
    const out = result.stdout;
    const [without, withCheckpoints] = out.split("With checkpoints:");
    // Only the half with checkpoints says it can resume.
    assert.match(
      without ?? "",
      /Failed at 300\/450\. Without checkpoints, nothing says where to resume\./,
    );
    assert.doesNotMatch(without ?? "", /can resume/);
    assert.match(withCheckpoints ?? "", /Failed at 300\/450\. Checkpoint saved - can resume\./);
    assert.match(out, /Checkpoint reset: .* starts again at player 1/);
    assert.match(out, /Found checkpoint: 300\/450 complete \(last: 300\)/);
    assert.match(out, /without checkpoints: 750 entities processed in 2 runs/);
    assert.match(out, /with checkpoints {3}: 450 entities processed in 2 runs/);
    assert.match(out, /░░░░░░███ +completed players 301-450 of 450/);
    assert.match(out, /Work saved by checkpoints: 300 of 750 entities not redone \(40\.0%\)/);
  });

  it("rejects a bad --batch-ms with exit code 2 and an unreachable store with 3", async () => {
    const [bad, unreachable] = await Promise.all([
      waymark(["demo", "--batch-ms", "-1"]),
      waymark(["demo", "--store", "nosuch:store"]),
    ]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--batch-ms.*"-1"/);
    assert.equal(unreachable.code, 3, unreachable.stderr);
    assert.match(unreachable.stderr, /Cannot open store nosuch:store/);
  });
});
