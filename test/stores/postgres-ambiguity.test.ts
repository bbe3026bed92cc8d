import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runProxyScenario } from "../support/proxy-scenario.js";
import { counts } from "../support/tally.js";
import { NO_SERVER, PG_TEST_URL } from "./postgres-factory.js";

const SEED = Number(process.env.WAYMARK_FAULT_SEED ?? 20);

describe("PostgreSQL store behind a proxy that cuts connections", { skip: NO_SERVER }, () => {
  it("over 200 injected faults: every id exactly once, reported statuses match the store, history agrees", async () => {
    const summary = await runProxyScenario({
      url: PG_TEST_URL as string,
      seed: SEED,
      minFaults: 200,
    });
    console.log(
      `proxy (seed ${SEED}): ${summary.faultCount} faults over ${summary.partitions} partitions: ` +
        `${counts(summary.faults)}; runs: ${counts(summary.outcomes)}`,
    );
    assert.deepEqual(summary.violations, []);
    assert.ok(summary.faultCount >= 200, `only ${summary.faultCount} faults`);
    for (const kind of [
      "before-begin",
      "mid-transaction",
      "commit-reply",
      "completion-reply",
      "statement-reply",
      "idle",
    ] as const) {
      assert.ok(summary.faults.has(kind), `no ${kind} fault was injected`);
    }
  });
});
