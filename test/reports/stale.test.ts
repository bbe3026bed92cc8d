import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RunRecord, StoredCheckpoint } from "../../src/index.js";
import { staleReport } from "../../src/reports/stale.js";
import { storedCheckpoint } from "../support/checkpoint-row.js";

const NOW = 10 * 86_400_000;
const HOUR = 3_600_000;

function checkpoint(overrides: Partial<StoredCheckpoint>): StoredCheckpoint {
  return storedCheckpoint({
    createdAt: NOW - 48 * HOUR,
    updatedAt: NOW - 48 * HOUR,
    ...overrides,
  });
}

function running(overrides: Partial<RunRecord>): RunRecord {
  return {
    processor: "p",
    partition: "x",
    shard: "",
    runId: "r1",
    status: "running",
    startedAt: NOW - 48 * HOUR,
    finishedAt: null,
    resumedFrom: 4,
    processed: 0,
    total: 100,
    batches: 0,
    checkpointMs: 0,
    attempt: 1,
    reason: null,
    error: null,
    ...overrides,
  };
}

describe("staleReport", () => {
  it("names why each dead run is dead: lease expired, taken over, checkpoint gone", () => {
    const report = staleReport(
      [
        checkpoint({ runId: "r1", leaseOwner: "a", leaseExpiresAt: NOW - 1 }),
        checkpoint({ partition: "y", runId: "r3", leaseOwner: "b", leaseExpiresAt: NOW + HOUR }),
      ],
      [
        running({ runId: "r1" }),
        running({ runId: "r2", partition: "y", processed: 7 }),
        running({ runId: "r4", partition: "gone" }),
      ],
      NOW,
      24 * HOUR,
    );
    assert.deepEqual(
      report.runs.map((d) => [d.run.runId, d.cause, d.processed]),
      [
        ["r1", "lease-expired", 6],
        ["r2", "taken-over", 7],
        ["r4", "checkpoint-gone", 0],
      ],
    );
    assert.deepEqual(
      report.checkpoints.map((c) => c.partition),
      ["x"],
      "y is leased until an hour from now",
    );
  });

  it("leaves alone a run whose lease is live and anything younger than the threshold", () => {
    const report = staleReport(
      [
        checkpoint({ runId: "r1", leaseOwner: "a", leaseExpiresAt: NOW + 1 }),
        checkpoint({ partition: "young", runId: "r5", updatedAt: NOW - HOUR }),
      ],
      [
        running({ runId: "r1" }),
        running({ runId: "r5", partition: "young", startedAt: NOW - 2 * HOUR }),
        running({ runId: "r6", partition: "gone", startedAt: NOW - HOUR }),
      ],
      NOW,
      24 * HOUR,
    );
    assert.deepEqual(report.runs, []);
    assert.deepEqual(report.checkpoints, []);
  });
});
