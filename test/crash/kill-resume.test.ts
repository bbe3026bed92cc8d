import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import {
  type ChildExit,
  type CrashChildConfig,
  checkCompleted,
  checkKilledAttempt,
  killLeftoverChildren,
  readEffects,
  seeded,
  snapshot,
  spawnCrashChild,
} from "./harness.js";

const TOTAL = 450;
const BATCH = 50;

describe("kill -9 and resume on SQLite", { timeout: 120_000 }, () => {
  let dir: string;
  let config: CrashChildConfig;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-crash-"));
    config = {
      db: join(dir, "waymark.db"),
      effects: join(dir, "effects.log"),
      partition: "2024-01-15",
      total: TOTAL,
      batchSize: BATCH,
      workMs: 0,
      tag: "first",
      killAt: null,
      busyDeadlineMs: 15_000,
    };
  });
  afterEach(() => {
    const leftover = killLeftoverChildren();
    rmSync(dir, { recursive: true, force: true });
    assert.equal(leftover, 0, "the test left child processes running");
  });

  /** Runs a child to its end. */
  async function runChild(overrides: Partial<CrashChildConfig>): Promise<ChildExit> {
    return spawnCrashChild({ ...config, ...overrides }).exited;
  }

  function assertKilled(exit: ChildExit): void {
    assert.equal(exit.signal, "SIGKILL", `the child was not killed:\n${exit.stdout}${exit.stderr}`);
    assert.equal(exit.report, null, "a killed child prints no result");
  }

  /**
   * The killed run, then a second run that completes; checks the resume point, the `ctx.tx`
   * rows (exactly once), the external effects (one replayed batch at most) and history.
   */
  async function killThenResume(
    killed: ChildExit,
    expected: { resumedFrom: number | null; replayed: number[] },
  ): Promise<void> {
    assertKilled(killed);
    const afterKill = await snapshot(config.db, config.partition);
    const cursor = (afterKill.checkpoint?.cursor as number | null) ?? 0;
    assert.equal(afterKill.checkpoint?.completed ?? 0, expected.resumedFrom ?? 0);
    const dead = afterKill.runs.find((r) => r.status === "running");
    assert.ok(dead, "the killed run's history row stays running");

    const second = await runChild({ tag: "second", killAt: null });
    assert.equal(second.code, 0, second.stderr);
    const report = second.report;
    assert.ok(report, `no result line in:\n${second.stdout}`);
    assert.equal(report.status, "completed", report.error ?? "");
    assert.equal(report.resumedFrom, expected.resumedFrom);
    assert.equal(report.processed, TOTAL - (expected.resumedFrom ?? 0));
    assert.equal(report.completed, TOTAL);

    const effects = readEffects(config.effects);
    const kill = checkKilledAttempt(effects, "first", cursor, BATCH);
    assert.deepEqual(kill.violations, []);
    const final = await snapshot(config.db, config.partition);
    assert.deepEqual(checkCompleted(effects, final.txWrites, TOTAL, kill.replayed), []);
    const counts = new Map<number, number>();
    for (const e of effects) counts.set(e.entity, (counts.get(e.entity) ?? 0) + 1);
    const twice = [...counts].filter(([, n]) => n > 1).map(([entity]) => entity);
    assert.deepEqual(twice, expected.replayed, "the entities whose external effect replayed");

    assert.equal(final.checkpoint, null, "a completed run clears its checkpoint");
    const byId = new Map(final.runs.map((r) => [r.runId, r]));
    // The resuming run's acquisition records the dead run as failed where it last committed.
    const deadAfter = byId.get(dead.runId);
    assert.equal(deadAfter?.status, "failed", "the dead run is recorded as failed");
    assert.match(deadAfter?.error ?? "", new RegExp(`^Abandoned: .*run ${report.runId} took`));
    assert.equal(deadAfter?.processed, expected.resumedFrom ?? 0, "the dead run's committed count");
    assert.equal(byId.get(report.runId)?.status, "completed");
    assert.equal(byId.get(report.runId)?.resumedFrom, expected.resumedFrom);
  }

  const range = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => from + i);

  it("resumes after a kill in the middle of processBatch, replaying only that batch", async () => {
    const killed = await runChild({ killAt: { kind: "entity", id: 320 } });
    await killThenResume(killed, { resumedFrom: 300, replayed: range(301, 320) });
  });

  it("resumes after a kill right after a commit, replaying nothing", async () => {
    const killed = await runChild({ killAt: { kind: "commit", completed: 300 } });
    await killThenResume(killed, { resumedFrom: 300, replayed: [] });
  });

  it("starts over after a kill in the first batch, before any commit", async () => {
    const killed = await runChild({ killAt: { kind: "entity", id: 20 } });
    await killThenResume(killed, { resumedFrom: null, replayed: range(1, 20) });
  });

  it("resumes after a kill in the last batch", async () => {
    const killed = await runChild({ killAt: { kind: "entity", id: TOTAL } });
    await killThenResume(killed, { resumedFrom: 400, replayed: range(401, TOTAL) });
  });

  it("kills two processes sharing one SQLite file and resumes both", async () => {
    const kills = [
      { partition: "2024-01-15", id: 120, resumedFrom: 100 },
      { partition: "2024-01-16", id: 333, resumedFrom: 300 },
    ];
    const killed = await Promise.all(
      kills.map((k) => runChild({ partition: k.partition, killAt: { kind: "entity", id: k.id } })),
    );
    for (const exit of killed) assertKilled(exit);
    const resumed = await Promise.all(
      kills.map((k) => runChild({ partition: k.partition, tag: "second" })),
    );
    for (const [i, k] of kills.entries()) {
      const report = resumed[i]?.report;
      assert.equal(report?.status, "completed", resumed[i]?.stderr);
      assert.equal(report?.resumedFrom, k.resumedFrom);
      const effects = readEffects(config.effects).filter((e) => e.partition === k.partition);
      const kill = checkKilledAttempt(effects, "first", k.resumedFrom, BATCH);
      assert.deepEqual(kill.violations, []);
      assert.equal(kill.replayed, k.id - k.resumedFrom);
      const { txWrites } = await snapshot(config.db, k.partition);
      assert.deepEqual(checkCompleted(effects, txWrites, TOTAL, kill.replayed), []);
    }
  });

  it("survives SIGKILL from outside at random moments (seeded)", async () => {
    const random = seeded(Number(process.env.WAYMARK_CRASH_SEED ?? 20240115));
    for (let repetition = 0; repetition < 3; repetition++) {
      rmSync(config.db, { force: true });
      rmSync(`${config.db}-wal`, { force: true });
      rmSync(`${config.db}-shm`, { force: true });
      rmSync(config.effects, { force: true });
      // Slow batches (9 x 60 ms), so that a kill within 0-150 ms of the first lands mid-run.
      const child = spawnCrashChild({ ...config, workMs: 60 });
      await Promise.race([child.processing, child.exited]);
      await delay(Math.floor(random() * 150));
      child.process.kill("SIGKILL");
      const killed = await child.exited;
      assertKilled(killed);
      const { checkpoint, completedAt } = await snapshot(config.db, config.partition);
      assert.equal(completedAt, null, "the kill came only after the run had completed");
      const cursor = (checkpoint?.cursor as number | null) ?? 0;
      const replayed = readEffects(config.effects)
        .filter((e) => e.entity > cursor)
        .map((e) => e.entity);
      await killThenResume(killed, {
        resumedFrom: cursor === 0 ? null : cursor,
        replayed: replayed.sort((a, b) => a - b),
      });
    }
  });
});
