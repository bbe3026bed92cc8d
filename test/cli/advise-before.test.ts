// `waymark advise --what-if` and `--runs FILE`: the decision before adopting waymark, from a
// team's own figures. The two worked examples of the checkpoint pattern, reproduced.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Advice } from "../../src/reports/advise.js";
import { waymark } from "./cli.js";

const MIN = 60_000;
const WEEK = 7 * 86_400_000;
const ML_TRAINING = "duration=30m,failure-rate=10%,fail-at=66%,weekly-runs=50,overhead=0.5%";

describe("waymark advise before adopting", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-advise-before-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("the 30-minute ML training: 99 min a week wasted without checkpoints, a strong yes", async () => {
    const out = await waymark(["advise", "training", "--what-if", ML_TRAINING]);
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stdout.split("\n");
    assert.match(lines[0] ?? "", /^training: Checkpoint: .* A strong yes.* \[checkpoint\]$/);
    // The path through the tree, each branch with its figure.
    assert.deepEqual(lines.slice(1, 5), [
      "  failure rate: 10.0% (stated) -> 5.0% or more",
      "  where failures happen: at 66.0% (stated) -> mid-run",
      "  typical duration: 30.0 min -> over 5 min",
      "  weekly saving: 91.5 min net -> 1 h a week or more: a strong yes",
    ]);
    // 5 failures a week x 19.8 min (66% of 30 min) = 99 min; the pattern rounds it to 100.
    assert.match(out.stdout, /weekly waste without checkpoints: 99\.0 min \(5 failures\/week/);
    // 0.5% of 30 min is 9 s a run, 7.5 min a week (the pattern's 15 s a run is 0.83%).
    assert.match(out.stdout, /weekly waste with checkpoints: 7\.5 min \(0\.50% overhead/);
    assert.match(out.stdout, /net weekly saving with checkpoints: 91\.5 min/);
    assert.match(out.stdout, /batch size: 100-200 entities, from the table for runs of 10-30 min/);

    const json = await waymark(["advise", "--what-if", ML_TRAINING, "--json"]);
    const [advice] = JSON.parse(json.stdout) as Advice[];
    assert.equal(advice?.source, "stated");
    assert.equal(advice?.verdict, "checkpoint");
    close(advice?.figures.weeklyReworkMs, 0.1 * 50 * 0.66 * 30 * MIN);
    close(advice?.figures.weeklyOverheadMs, 0.005 * 30 * MIN * 50);
    assert.deepEqual(advice?.notes, []);
  });

  it("the 30-second processor: retries are enough", async () => {
    const out = await waymark([
      "advise",
      "--what-if",
      "duration=30s,failure-rate=10%,fail-at=50%,weekly-runs=50,overhead=5%",
    ]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^what-if: Just retry: a whole run is short\. \[just-retry\]/);
    assert.match(out.stdout, /typical duration: 30\.0 s -> under 2 min/);
    // 5 failures x 15 s saved a week, against 5% of 30 s on each of 50 runs: nothing net.
    assert.match(out.stdout, /weekly waste without checkpoints: 1\.3 min/);
    assert.match(out.stdout, /net weekly saving with checkpoints: 0\.0 min/);
    assert.doesNotMatch(out.stdout, /batch size/);
  });

  it("figures it was not given are assumed, and it says so", async () => {
    const out = await waymark([
      "advise",
      "--what-if",
      "duration=10m,failure-rate=20%,weekly-runs=7",
    ]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /note: fail-at assumed 50\.0% \(not stated\)/);
    assert.match(out.stdout, /note: overhead assumed 1\.0% \(not stated\)/);
  });

  it("refuses figures it cannot read, naming the key, the value and the fix", async () => {
    for (const [figures, message] of [
      ["duration=30,failure-rate=10%,weekly-runs=5", /duration=30 is not a duration with its unit/],
      [
        "duration=30m,failure-rate=10,weekly-runs=5",
        /failure-rate=10 is not a share: write a percent/,
      ],
      ["duration=30m,falure-rate=10%", /"falure-rate=10%" is not KEY=VALUE/],
      ["duration=30m,failure-rate=10%", /it needs weekly-runs/],
    ] as const) {
      const out = await waymark(["advise", "--what-if", figures]);
      assert.equal(out.code, 2, figures);
      assert.match(out.stderr, message);
    }
  });

  it("--runs FILE: a CSV job log gives the same decision as the stated figures", async () => {
    // 50 runs a week (50 starts, 49 intervals of a week / 50), 5 of them failed at 66%.
    const file = join(dir, "jobs.csv");
    const start = Date.parse("2024-06-03T00:00:00Z");
    const rows = Array.from({ length: 50 }, (_, i) => {
      const at = new Date(start + (i * WEEK) / 50).toISOString();
      return i % 10 === 3 ? `${at},1188,failed,66%` : `${at},1800,completed,`;
    });
    writeFileSync(file, `start,duration,outcome,progress\n${rows.join("\n")}\n`);
    const out = await waymark(["advise", "training", "--runs", file, "--what-if", "overhead=0.5%"]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /failure rate: 10\.0% \(5 of 50 runs failed\)/);
    assert.match(out.stdout, /where failures happen: on average at 66\.0% -> mid-run/);
    assert.match(out.stdout, /weekly waste without checkpoints: 99\.0 min/);
    assert.match(out.stdout, /net weekly saving with checkpoints: 91\.5 min/);
  });

  it("--runs FILE --columns kubernetes reads kubectl's jobs, still-running ones left out", async () => {
    const file = join(dir, "jobs.ndjson");
    const job = (i: number, condition: string | null) => {
      const startTime = new Date(Date.parse("2024-06-03T00:00:00Z") + i * 86_400_000);
      const end = new Date(startTime.getTime() + 8 * MIN).toISOString();
      return JSON.stringify({
        metadata: { name: `nightly-${i}` },
        status: {
          startTime: startTime.toISOString(),
          ...(condition === "Complete" ? { completionTime: end, succeeded: 1 } : {}),
          ...(condition === "Failed" ? { failed: 1 } : {}),
          conditions: condition
            ? [{ type: condition, status: "True", lastTransitionTime: end }]
            : [],
        },
      });
    };
    const lines = Array.from({ length: 14 }, (_, i) =>
      job(i, i === 4 || i === 9 ? "Failed" : "Complete"),
    );
    writeFileSync(file, `${[...lines, job(14, null)].join("\n")}\n`);
    const out = await waymark(["advise", "--runs", file, "--columns", "kubernetes"]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^jobs\.ndjson: /);
    assert.match(out.stdout, /failure rate: 14\.3% \(2 of 14 runs failed\)/);
    assert.match(out.stdout, /typical duration: 8\.0 min -> over 5 min/);
    assert.match(out.stdout, /note: fail-at assumed 50\.0% \(the log has no progress\)/);
    assert.match(out.stdout, /note: 1 runs still going \(no outcome yet\) were left out/);
  });

  it("--runs FILE: a row it cannot read is named by its line, column and value", async () => {
    const file = join(dir, "bad.csv");
    writeFileSync(
      file,
      "start,duration,outcome\n2024-06-03T00:00:00Z,60,completed\n2024-06-04T00:00:00Z,60,meh\n",
    );
    const out = await waymark(["advise", "--runs", file]);
    assert.equal(out.code, 2);
    assert.match(out.stderr, /bad\.csv line 3: outcome "meh" is neither a success/);
    const mapped = await waymark(["advise", "--runs", file, "--columns", "start=Began"]);
    assert.equal(mapped.code, 2);
    assert.match(mapped.stderr, /line 2: no start \(looked for Began\); map the log's column/);
  });
});

function close(actual: number | null | undefined, expected: number): void {
  assert.ok(
    typeof actual === "number" && Math.abs(actual - expected) < 1e-6,
    `${actual} ≈ ${expected}`,
  );
}
