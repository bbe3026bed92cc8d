import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type {
  StoredBackfill,
  StoredCheckpoint,
  UnitCompletion,
} from "../../src/core/store/records.js";
import { completedParts } from "../../src/reports/completed-parts.js";
import { storedCheckpoint } from "../support/checkpoint-row.js";

const T0 = 1_700_000_000_000;

function checkpoint(shard: string, createdAt: number, layout = "L"): StoredCheckpoint {
  return storedCheckpoint({
    processor: "daily",
    partition: "P",
    shard,
    cursor: null,
    completed: 0,
    runId: null,
    createdAt,
    updatedAt: createdAt,
    range: null,
    layout,
  });
}

function completion(shard: string, completedAt: number, layout = "L"): UnitCompletion {
  return {
    processor: "daily",
    partition: "P",
    shard,
    completedAt,
    runId: `run-${shard}`,
    range: null,
    layout,
    completed: 100,
    total: 100,
  };
}

function backfill(startedAt: number, finishedAt: number | null = null): StoredBackfill {
  return { processor: "daily", id: `b${startedAt}`, partitions: 3, startedAt, finishedAt };
}

const shardsDone = (parts: Map<string, UnitCompletion[]>) =>
  (parts.get(JSON.stringify(["daily", "P"])) ?? []).map((c) => c.shard);

describe("the completed parts of a partition in flight", () => {
  it("are those completed since the backfill its checkpoints belong to began", () => {
    // Shard 0 completed before shard 1 was begun, in the same backfill (one slot).
    const parts = completedParts(
      [checkpoint("1", T0 + 50)],
      [completion("0", T0 + 40), completion("2", T0 - 5000)],
      [backfill(T0 - 10_000, T0 - 4000), backfill(T0)],
    );
    assert.deepEqual(shardsDone(parts), ["0"], "shard 2 completed in the earlier backfill");
  });

  it("without a backfill, are those completed since its oldest checkpoint was made", () => {
    const parts = completedParts(
      [checkpoint("1", T0), checkpoint("~a", T0 + 30)],
      [completion("", T0 + 40), completion("0", T0 - 1)],
      [backfill(T0 - 10_000, T0 - 4000)],
    );
    assert.deepEqual(shardsDone(parts), [""]);
  });

  it("leave out a shard being run again and one made under another static split", () => {
    const parts = completedParts(
      [checkpoint("1", T0 + 10)],
      [completion("1", T0 + 5), completion("0", T0 + 20, "OLD"), completion("2", T0 + 30)],
      [backfill(T0)],
    );
    assert.deepEqual(shardsDone(parts), ["2"]);
  });

  it("belong to partitions with a checkpoint only", () => {
    const parts = completedParts([], [completion("0", T0)], [backfill(T0 - 1)]);
    assert.equal(parts.size, 0);
  });
});
