import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  defineProcessor,
  InvalidOptionError,
  MemoryStore,
  run,
  SqliteStore,
} from "../../../src/index.js";
import { loadAdvice, loadStats } from "../../../src/reports/load.js";
import { waymark } from "../../cli/cli.js";
import { captureLogger } from "../../support/logger.js";

const processor = defineProcessor<number>({
  name: "budgeted",
  batchSize: 10,
  entities: () => Array.from({ length: 30 }, (_, i) => i + 1),
  id: (n) => n,
  processBatch() {},
});

const dir = mkdtempSync(join(tmpdir(), "waymark-livelock-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("no silent livelock", () => {
  it("refuses a timeBudgetMs that does not exceed deadlineMarginMs, naming both", async () => {
    const store = new MemoryStore();
    await assert.rejects(
      run(processor, { store, logger: false, timeBudgetMs: 600 }),
      (error: unknown) =>
        error instanceof InvalidOptionError &&
        error.option === "timeBudgetMs" &&
        /`timeBudgetMs` \(600 ms\).*`deadlineMarginMs` \(1000 ms, the default\)/.test(
          error.message,
        ) &&
        /lower deadlineMarginMs below 600/.test(error.message),
    );
    await assert.rejects(
      run(processor, { store, logger: false, timeBudgetMs: 500, deadlineMarginMs: 500 }),
      /`timeBudgetMs` \(500 ms\) to be longer than `deadlineMarginMs` \(500 ms\)/,
    );
    assert.equal(
      await store.getCheckpoint({ processor: "budgeted", partition: "default", shard: "" }),
      null,
    );
    const fits = await run(processor, {
      store,
      logger: false,
      timeBudgetMs: 600,
      deadlineMarginMs: 100,
    });
    assert.equal(fits.status, "completed");
  });

  it("refuses a deadline that leaves no more than the margin when the run starts", async () => {
    const now = 1_700_000_000_000;
    await assert.rejects(
      run(processor, {
        store: new MemoryStore(),
        logger: false,
        now: () => now,
        deadline: now + 400,
        deadlineMarginMs: 1000,
      }),
      (error: unknown) =>
        error instanceof InvalidOptionError &&
        error.option === "deadline" &&
        /leaves 400 ms.*`deadlineMarginMs` \(1000 ms\).*below 400/.test(error.message),
    );
  });

  it("says so when a run suspends without progress, and stats/advise flag the partition", async () => {
    const file = join(dir, "stalled.db");
    const store = new SqliteStore(file);
    const breaker = { isOpen: () => true };
    const { logger, lines } = captureLogger();
    for (let i = 0; i < 3; i++) {
      const result = await run(processor, { store, logger, breaker, partition: "p1" });
      assert.equal(result.status, "suspended");
      assert.equal(result.reason, "circuit-open");
      assert.equal(result.noProgress, true);
    }
    assert.ok(
      lines.some((l) =>
        /Suspended budgeted\/p1 at 0\/30 \(0.0%\) \(circuit-open\) without processing/.test(l),
      ),
      lines.join("\n"),
    );
    // A partition that progressed is not flagged, nor one suspended only twice.
    const progressed = await run(processor, { store, logger: false, partition: "p2" });
    assert.equal(progressed.noProgress, undefined);
    for (let i = 0; i < 2; i++)
      await run(processor, { store, logger: false, breaker, partition: "p3" });

    const [stats] = await loadStats(store, { since: 0 });
    assert.deepEqual(
      stats?.stalledPartitions.map((s) => [s.partition, s.suspensions, s.reason]),
      [["p1", 3, "circuit-open"]],
    );
    const [advice] = await loadAdvice(store, { windowMs: 86_400_000 });
    assert.match(advice?.stallWarning ?? "", /budgeted\/p1 \(3 times, circuit-open\)/);
    // Progress ends the streak.
    await run(processor, { store, logger: false, partition: "p1" });
    assert.deepEqual((await loadStats(store, { since: 0 }))[0]?.stalledPartitions, []);
    for (let i = 0; i < 3; i++)
      await run(processor, { store, logger: false, breaker, partition: "p1" });
    await store.close();

    const cli = await waymark(["stats", "--store", `sqlite:${file}`]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /without progress: budgeted\/p1 \(3 times, circuit-open\)/);
  });
});
