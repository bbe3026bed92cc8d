import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { JsonLines } from "../../src/cli/run-report.js";
import type { RunProgress } from "../../src/core/run-options.js";

function progress(partition: string, shard: string | undefined, completed: number): RunProgress {
  return {
    processor: "elastic",
    partition,
    shard,
    completed,
    total: 100,
    processed: completed,
    batches: 1,
    resumedFrom: null,
    cursor: completed,
    elapsedMs: 10,
  };
}

describe("waymark run --json", () => {
  it("names the shard of each progress and run-started line, and paces each shard alone", () => {
    const lines: Record<string, unknown>[] = [];
    const json = new JsonLines((line) => lines.push(JSON.parse(line)), 60_000);
    json.metrics.runStarted?.({
      runId: "r1",
      processor: "elastic",
      partition: "p05",
      shard: "~abc",
      resumedFrom: null,
      total: 100,
      attempt: 1,
    });
    json.progress(progress("p05", undefined, 10));
    // A shard split off the same partition has progress of its own, not paced with the parent's.
    json.progress(progress("p05", "~abc", 20));
    json.progress(progress("p05", "~abc", 30)); // within the interval: left out
    assert.deepEqual(
      lines.map((l) => [l.event, l.partition, l.shard ?? null, l.completed ?? null]),
      [
        ["run-started", "p05", "~abc", null],
        ["progress", "p05", null, 10],
        ["progress", "p05", "~abc", 20],
      ],
    );
  });
});
