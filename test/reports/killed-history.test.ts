// Eleven partitions of 1,000 orders, each run SIGKILLed at 40% (a real process, killed for
// real) and resumed; a twelfth killed and never resumed, found by gc. Every figure the reports
// give is checked against a hand computation from the clock the runs were given.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { defineProcessor, run, SqliteStore } from "../../src/index.js";
import { collectGarbage } from "../../src/reports/actions.js";
import { loadAdvice, loadRuns, loadStale, loadStats } from "../../src/reports/load.js";
import { waymark } from "../cli/cli.js";

const DIE_AT = fileURLToPath(new URL("../fixtures/die-at.ts", import.meta.url));
const DAY = 86_400_000;
const TOTAL = 1000;
const MS_PER_ENTITY = 600; // a whole partition takes 600 s: 10 minutes
const RESUMED = 11;

/** Runs the die-at child; resolves once it is dead, rejecting if it did not die by SIGKILL. */
function dieAt(path: string, partition: string, start: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        DIE_AT,
        path,
        partition,
        "401",
        String(TOTAL),
        String(start),
        String(MS_PER_ENTITY),
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (_code, signal) =>
      signal === "SIGKILL" ? resolve() : reject(new Error(`${partition} did not die: ${stderr}`)),
    );
  });
}

describe("reports of runs killed at 40% and resumed", { timeout: 180_000 }, () => {
  let dir: string;
  let path: string;
  let store: SqliteStore;
  const now = Date.now();
  const base = now - 20 * DAY;
  const startOf = (i: number) => base + i * DAY;
  const partitions = Array.from(
    { length: RESUMED + 1 },
    (_, i) => `d${String(i + 1).padStart(2, "0")}`,
  );

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "waymark-killed-"));
    path = join(dir, "waymark.db");
    await new SqliteStore(path).close(); // the store exists before the children race to open it
    // Three processes at a time: each dies by SIGKILL in its fifth batch, at 400 committed.
    for (let i = 0; i < partitions.length; i += 3) {
      await Promise.all(partitions.slice(i, i + 3).map((p, j) => dieAt(path, p, startOf(i + j))));
    }
    store = new SqliteStore(path);
    for (const [i, partition] of partitions.slice(0, RESUMED).entries()) {
      let clock = startOf(i) + 3_600_000; // an hour later: the dead run's lease has expired
      const orders = defineProcessor<number>({
        name: "orders",
        batchSize: 100,
        entities: ({ after: cursor }) =>
          Array.from({ length: TOTAL }, (_, n) => n + 1).filter(
            (n) => cursor === null || n > Number(cursor),
          ),
        id: (n) => n,
        processBatch: (batch) => {
          clock += MS_PER_ENTITY * batch.length;
        },
      });
      const result = await run(orders, { store, partition, logger: false, now: () => clock });
      assert.deepEqual(
        [result.status, result.resumedFrom, result.processed],
        ["completed", 400, 600],
      );
    }
  });
  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("each resume recorded the run it took over as failed at 400 of 1000", async () => {
    const runs = await loadRuns(store, { processor: "orders", now });
    const killed = runs.filter((r) => r.status === "failed");
    assert.equal(killed.length, RESUMED);
    for (const r of killed) {
      const i = partitions.indexOf(r.partition);
      assert.equal(r.processed, 400, r.partition);
      assert.equal(r.startedAt, startOf(i));
      assert.equal(r.finishedAt, startOf(i) + 400 * MS_PER_ENTITY, "it died after its last commit");
      assert.match(r.error ?? "", /^Abandoned: .* took its checkpoint over/);
    }
    // The one nobody resumed is still `running`, seen at what it committed.
    const left = runs.find((r) => r.partition === "d12");
    assert.deepEqual(
      [left?.status, left?.running, left?.processed],
      ["running", "lease-expired", 400],
    );
    const table = await waymark(["runs", "--store", `sqlite:${path}`, "--limit", "50"]);
    assert.equal(table.code, 0, table.stderr);
    assert.equal(table.stdout.match(/ 400 of 1000 /g)?.length, RESUMED + 1);
    assert.equal(table.stdout.match(/ 600 of 1000 /g)?.length, RESUMED);
    assert.doesNotMatch(table.stdout, / 0 of 1000 |NaN|Infinity/);
    assert.match(table.stdout, /running \(lease expired: dead\?\)/);
  });

  it("gc records the last one failed at its checkpoint's 400; stats and advise agree", async () => {
    const stale = await loadStale(store, { now, olderThanMs: DAY });
    assert.deepEqual(
      stale.runs.map((d) => [d.run.partition, d.cause, d.processed]),
      [["d12", "lease-expired", 400]],
    );
    const gc = await collectGarbage(store, stale, now);
    assert.equal(gc.markedFailed.length, 1);
    const runs = await store.listRuns({ processor: "orders" });
    const gone = runs.find((r) => r.partition === "d12");
    assert.deepEqual([gone?.status, gone?.processed], ["failed", 400]);

    // stats: 11 resumes, each saving the 400 entities the killed run had committed; the
    // completed runs took 600 ms per entity.
    const [stats] = await loadStats(store, { since: base, now });
    assert.equal(stats?.resumedRuns, 11);
    assert.equal(stats?.entitiesSaved, 11 * 400);
    assert.equal(stats?.perEntityMs, 600);
    assert.equal(stats?.timeSavedMs, 11 * 400 * 600);

    // advise, by hand: 23 finished runs, 12 of them failed, all at 40%; a whole partition takes
    // 600 s (each completed run did 600 entities in 360 s, scaled to 1,000); 23 runs in 30 days
    // is 23 × 7 / 30 a week. Rework without checkpoints: rate × 0.4 × 600 s × runs a week.
    const [advice] = await loadAdvice(store, { processor: "orders", now });
    assert.ok(advice);
    const f = advice.figures;
    assert.equal(advice.verdict, "checkpoint");
    assert.equal(f.finishedRuns, 23);
    assert.equal(f.failedRuns, 12);
    assert.equal(f.failureRate, 12 / 23);
    assert.ok(Math.abs((f.avgProgressAtFailure ?? 0) - 0.4) < 1e-12);
    assert.equal(f.failuresNearEdges, 0);
    assert.equal(f.typicalDurationMs, 600_000);
    const weeklyRuns = (23 * 7) / 30;
    assert.ok(Math.abs(f.weeklyRuns - weeklyRuns) < 1e-9);
    const rework = (12 / 23) * 0.4 * 600_000 * weeklyRuns; // = 672,000 ms: 11.2 minutes
    assert.ok(Math.abs((f.weeklyReworkMs ?? 0) - rework) < 1e-6);
    assert.ok(Math.abs(rework - 672_000) < 1e-6);
    // Overhead: the commits' measured time over the duration of the runs that recorded their
    // commits, the 11 resumed ones (11 × 360 s). A killed run is recorded by the run that took
    // it over with what its checkpoint committed but not its batches or commit time: counting
    // its 240 s would shrink the overhead, and its 400 entities without a batch would inflate
    // the batch size.
    const checkpointMs = runs.reduce((sum, r) => sum + r.checkpointMs, 0);
    const overhead = checkpointMs / (11 * 360 * 1000);
    assert.equal(f.currentBatchSize, 100);
    assert.ok(Math.abs((f.overhead ?? 0) - overhead) < 1e-12);
    const weeklyOverhead = overhead * 600_000 * weeklyRuns;
    assert.ok(Math.abs((f.weeklyNetSavingMs ?? 0) - (rework - weeklyOverhead)) < 1e-6);
    assert.ok((f.weeklyNetSavingMs ?? 0) > 0, "checkpoints pay for themselves here");
    assert.match(
      advice.steps.map((s) => `${s.check}: ${s.figure}`).join("\n"),
      /where failures happen: on average at 40\.0%/,
    );
  });
});
