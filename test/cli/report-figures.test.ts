// What `waymark stats` and `waymark advise` print is true: figures that add up on screen, no
// "0.0 min" for a real duration, whole batch sizes that dead runs do not distort, and a
// processor without history said to be one.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { abandonedRunError } from "../../src/core/store/run-store.js";
import { type RunRecord, SqliteStore } from "../../src/index.js";
import { waymark } from "./cli.js";

const T0 = Date.now() - 3_600_000;
let seq = 0;

/** A history row as a runner records it; `abandoned` as a resuming run records a dead one. */
function record(processor: string, fields: Partial<RunRecord> & { durationMs: number }): RunRecord {
  seq++;
  const startedAt = T0 + seq * 1000;
  const { durationMs, ...rest } = fields;
  return {
    runId: `run-${seq}`,
    processor,
    partition: `part-${seq}`,
    shard: "",
    status: "completed",
    startedAt,
    finishedAt: startedAt + durationMs,
    resumedFrom: null,
    processed: 100,
    total: 100,
    batches: 2,
    checkpointMs: 0,
    attempt: 1,
    reason: null,
    error: null,
    ...rest,
  };
}

describe("report figures that are true", () => {
  let dir: string;
  let url: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "waymark-figures-"));
    url = `sqlite:${join(dir, "waymark.db")}`;
    const store = new SqliteStore(join(dir, "waymark.db"));
    // stats: 100 ms an entity (15.5 s for 155 entities of completed runs), 45 entities saved
    // by a resume = 4.5 s, against 1.98 s of commits.
    await store.recordRun(record("saver", { durationMs: 10_000, checkpointMs: 990 }));
    await store.recordRun(
      record("saver", { durationMs: 5500, processed: 55, resumedFrom: 45, checkpointMs: 990 }),
    );
    // advise: runs of 2 s, batches of 500; two processes SIGKILLed mid-run, recorded by the
    // run that took them over with what their checkpoint had committed, and no batches.
    for (let i = 0; i < 8; i++) {
      await store.recordRun(
        record("quick", {
          durationMs: 2000,
          processed: 5000,
          total: 5000,
          batches: 10,
          checkpointMs: 40,
        }),
      );
    }
    for (let i = 0; i < 2; i++) {
      await store.recordRun(
        record("quick", {
          durationMs: 1200,
          status: "failed",
          processed: 2100,
          total: 5000,
          batches: 0,
          checkpointMs: 0,
          error: abandonedRunError("run-next"),
        }),
      );
    }
    await store.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("stats: time saved - checkpoint overhead = net saving, as printed", async () => {
    const out = await waymark(["stats", "--store", url, "--processor", "saver"]);
    assert.equal(out.code, 0, out.stderr);
    const row = out.stdout.split("\n")[1] ?? "";
    // 4.5 s - 1.98 s: once "4s  1s  2s".
    assert.match(row, /^saver\s+2\s+0\s+1\s+45\s+4\.5 s\s+2\.0 s\s+2\.5 s$/);
  });

  it("advise: seconds for a short run, and a whole batch size that dead runs do not inflate", async () => {
    const out = await waymark(["advise", "quick", "--store", url]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /typical duration: 2\.0 s -> under 2 min/);
    assert.doesNotMatch(out.stdout, /0\.0 min/);
    // 40,000 entities in 80 batches: 500 a batch. The dead runs' 4,200 entities without
    // batches made it 552.5.
    assert.match(out.stdout, /batch size: \d+ recommended .* now 500\)/);
    const json = await waymark(["advise", "quick", "--store", url, "--json"]);
    const [advice] = JSON.parse(json.stdout) as Array<{ figures: Record<string, number> }>;
    assert.equal(advice?.figures.currentBatchSize, 500);
    // Commit time over the time of the runs that recorded their commits: 320 ms of 16 s.
    assert.equal(advice?.figures.overhead, 320 / 16_000);
  });

  it("advise NAME without history says so, lists the processors that have some, exits 1", async () => {
    const out = await waymark(["advise", "quikc", "--store", url]);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /No runs of "quikc" recorded since .* \(--since 30d\)/);
    assert.match(out.stderr, /Processors with history: quick, saver\./);
    assert.equal(out.stdout, "");
  });
});
