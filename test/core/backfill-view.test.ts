import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type BackfillView, splitCandidate, splitPending } from "../../src/core/backfill-view.js";
import type { StoredCheckpoint } from "../../src/core/store/records.js";
import { storedCheckpoint } from "../support/checkpoint-row.js";

function held(partition: string, total: number | null, completed: number): StoredCheckpoint {
  return storedCheckpoint({
    partition,
    cursor: completed,
    completed,
    total,
    runId: "run",
    leaseOwner: "holder",
    leaseExpiresAt: Number.MAX_SAFE_INTEGER,
  });
}

function view(...rows: StoredCheckpoint[]): BackfillView {
  return {
    done: new Map(),
    drifted: new Map(),
    held: new Map(rows.map((row) => [`${row.partition}\u0000`, row])),
    splitOffs: [],
    complete: false,
    open: new Set(rows.map((row) => row.partition)),
  };
}

describe("splitCandidate", () => {
  it("asks the unit with the most known work left, before one claimed a moment ago", () => {
    // `fresh` has no total yet (no batch committed): it may be small; `big` is known to be.
    const chosen = splitCandidate(
      view(held("fresh", null, 0), held("small", 300, 200), held("big", 4000, 900)),
      60,
      new Set(),
    );
    assert.equal(chosen?.partition, "big");
  });

  it("asks a unit of unknown size when none known has enough left", () => {
    const chosen = splitCandidate(
      view(held("small", 300, 280), held("fresh", null, 0)),
      60,
      new Set(),
    );
    assert.equal(chosen?.partition, "fresh");
  });

  it("skips units with a request pending or a declined note, and those excluded", () => {
    const asked = { ...held("asked", 4000, 0), splitRequest: { by: "x", at: 1 } };
    const declined = { ...held("declined", 4000, 0), splitNote: "no split hook" };
    const rows = view(asked, declined, held("excluded", 4000, 0), held("left", 500, 0));
    assert.equal(splitCandidate(rows, 60, new Set(["excluded\u0000"]))?.partition, "left");
    assert.equal(splitPending(rows), true);
    assert.equal(splitPending(view(held("left", 500, 0))), false);
  });
});
