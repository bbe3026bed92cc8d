// Through pg-boss too, text from user code never fails a store write: pg-boss keeps a job's
// output and a failed job's error in jsonb, which refuses a NUL. A run that fails with a NUL in
// its message fails its job, and one whose cursor holds a NUL completes it; neither leaves the
// job active until it expires.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { defineProcessor } from "../../src/core/processor.js";
import { enqueuePartitions, workPartitions } from "../../src/integrations/pg-boss.js";
import { NO_SERVER } from "../stores/postgres-factory.js";
import { BossFixture } from "../support/pg-boss-fixture.js";
import { until } from "../support/time.js";

describe("pg-boss jobs with a NUL in their text", { skip: NO_SERVER, timeout: 60_000 }, () => {
  let fixture: BossFixture;
  beforeEach(async () => {
    fixture = await BossFixture.open();
  });
  afterEach(() => fixture.close());

  /** The state and output of the queue's one job, once it is no longer active. */
  async function settled(queue: string) {
    let row: { state: string; output: Record<string, unknown> | null } | undefined;
    await until(`the ${queue} job to settle`, async () => {
      const result = await fixture.test.pool.query<NonNullable<typeof row>>(
        `SELECT state, output FROM ${fixture.test.schema}_boss.job
         WHERE name = $1 AND state IN ('completed', 'failed')`,
        [queue],
      );
      row = result.rows[0];
      return row !== undefined;
    });
    return row as NonNullable<typeof row>;
  }

  it("fails the job of a run whose error holds a NUL, and completes one whose cursor does", async () => {
    const boss = await fixture.boss();
    const failing = defineProcessor<string>({
      name: "nul-error",
      retry: false,
      entities: () => ["a"],
      id: (id) => id,
      processBatch() {
        throw new SyntaxError("Unexpected token \u0000 in JSON at position 3");
      },
    });
    const odd = defineProcessor<string>({
      name: "nul-cursor",
      entities: ({ after }) => ["a", "b\u0000"].filter((id) => after === null || id > after),
      id: (id) => id,
      processBatch() {},
    });
    for (const processor of [failing, odd]) {
      await boss.createQueue(`waymark-${processor.name}`, {
        name: `waymark-${processor.name}`,
        retryLimit: 0,
      });
      await workPartitions(boss, processor, {
        store: fixture.store,
        pollingIntervalSeconds: 0.5,
        logger: false,
      });
      await enqueuePartitions(boss, processor, ["p"]);
    }
    const failed = await settled("waymark-nul-error");
    assert.equal(failed.state, "failed");
    assert.equal(failed.output?.message, "Unexpected token \\u0000 in JSON at position 3");
    assert.equal(failed.output?.name, "SyntaxError");
    const completed = await settled("waymark-nul-cursor");
    assert.equal(completed.state, "completed");
    assert.equal(completed.output?.cursor, "b\\u0000");
  });
});
