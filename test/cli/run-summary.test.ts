import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { SqliteStore } from "../../src/index.js";
import { type EffectsDb, effectsDb } from "../support/effects-db.js";
import { type CliResult, waymark } from "./cli.js";

const MODULE = fileURLToPath(new URL("../fixtures/backfill-processors.ts", import.meta.url));

/** The summary line of `waymark run --json`. */
function summaryOf(result: CliResult): Record<string, unknown> & {
  partitions: Array<Record<string, unknown>>;
} {
  const lines = result.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  return lines.find((l) => l.event === "summary");
}

// What a process of a shared backfill says it did, and what other runs of it did.
describe("waymark run's summary of a backfill other runs took part in", () => {
  let fixture: EffectsDb;
  before(() => {
    fixture = effectsDb("waymark-run-summary-");
  });
  after(() => fixture.cleanup());

  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    waymark(["run", MODULE, ...args, ...fixture.store], { env });

  /** A first process completes a and b of the backfill a,b,c; c fails. */
  async function firstProcess(processor: string): Promise<void> {
    const first = await run([processor, "--partitions", "a,b,c"], { FAIL_PARTITION: "c" });
    assert.equal(first.code, 1, first.stderr);
  }

  it("says which partitions it ran and which other runs completed", async () => {
    await firstProcess("visits");
    const second = await run(["visits", "--partitions", "a,b,c"]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(
      second.stdout,
      new RegExp(
        "^visits: 3 partitions: 1 completed, 2 already completed in \\S+; 20 entities processed\\.\\n" +
          " {2}run here: {17}c\\n" +
          " {2}completed by other runs: {2}a, b\\n" +
          "The backfill begun \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ is complete\\.\\n$",
      ),
    );
  });

  it("--json's summary carries who completed what, the backfill and what others held", async () => {
    await firstProcess("orders");
    const second = await run(["orders", "--partitions", "a,b,c", "--json"]);
    assert.equal(second.code, 0, second.stderr);
    const summary = summaryOf(second);
    const [a, b, c] = summary.partitions;
    assert.deepEqual(
      [a?.status, b?.status, c?.status],
      ["already-completed", "already-completed", "completed"],
    );
    for (const done of [a, b]) {
      assert.match(String(done?.completedBy), /^[0-9a-f-]{36}$/, "the run that completed it");
      assert.match(String(done?.completedAt), /^\d{4}-\d\d-\d\dT.*Z$/);
      assert.equal(done?.runId, undefined, "not run here");
    }
    assert.notEqual(a?.completedBy, b?.completedBy, "each its own run");
    assert.match(String(c?.runId), /^[0-9a-f-]{36}$/, "run here, by this run");
    assert.equal(c?.completedBy, undefined);
    const backfill = summary.backfill as Record<string, unknown>;
    assert.equal(backfill.alreadyFinished, false);
    assert.ok(String(backfill.startedAt) < String(backfill.finishedAt), JSON.stringify(backfill));
    assert.deepEqual(summary.waiting, []);
  });

  it("--json's summary names the runner still holding a partition when time ran out", async () => {
    const holder = new SqliteStore(fixture.db);
    const expiresAt = Date.now() + 600_000;
    try {
      const held = await holder.acquire({
        processor: "visits",
        partition: "y",
        shard: "",
        owner: "another-host:1",
        runId: "another-run",
        leaseTtlMs: 600_000,
        now: expiresAt - 600_000,
      });
      assert.ok(held.acquired);
    } finally {
      await holder.close();
    }
    const result = await run(["visits", "--partitions", "x,y", "--time-budget", "3s", "--json"]);
    assert.equal(result.code, 75, result.stderr);
    const summary = summaryOf(result);
    assert.deepEqual(summary.waiting, [
      { partition: "y", owner: "another-host:1", expiresAt: new Date(expiresAt).toISOString() },
    ]);
    assert.equal((summary.backfill as Record<string, unknown>).finishedAt, null);
  });
});
