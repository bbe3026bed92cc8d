import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { stripVTControlCharacters } from "node:util";
import { createPartitionsDisplay } from "../../src/core/partitions-progress.js";
import type { RunProgress, RunResult } from "../../src/index.js";
import { until } from "../support/time.js";

/** A stream that keeps what was written; `tty` makes it look like a terminal. */
function stream(tty: boolean) {
  const out = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  out.isTTY = tty;
  out.columns = 160;
  let text = "";
  out.setEncoding("utf8").on("data", (chunk: string) => {
    text += chunk;
  });
  return { out, text: () => stripVTControlCharacters(text) };
}

function progress(partition: string, completed: number, elapsedMs: number): RunProgress {
  return {
    processor: "daily",
    partition,
    completed,
    total: 100,
    processed: completed,
    batches: completed / 10,
    resumedFrom: null,
    cursor: completed,
    elapsedMs,
  };
}

function finished(partition: string, status: RunResult["status"], error?: Error) {
  const result = {
    runId: "r",
    status,
    processed: status === "completed" ? 100 : 40,
    skipped: 0,
    resumedFrom: null,
    completed: status === "completed" ? 100 : 40,
    total: 100,
    batches: 10,
    durationMs: 1000,
    checkpointMs: 10,
    cursor: 100,
    ...(error ? { error } : {}),
  } satisfies RunResult;
  return { partition, status, result };
}

describe("the progress of many partitions", () => {
  it("in a terminal: an overall bar, one bar per running partition, log lines above", async () => {
    const { out, text } = stream(true);
    let now = 0;
    const display = createPartitionsDisplay("daily", 4, {
      stream: out,
      env: { NO_COLOR: "1" },
      clock: () => now,
    });
    display.runStarted({ partition: "2024-01-01" });
    display.runStarted({ partition: "2024-01-02" });
    now = 1000;
    display.onProgress({ partition: "2024-01-01" }, progress("2024-01-01", 50, 1000));
    display.onProgress({ partition: "2024-01-02" }, progress("2024-01-02", 30, 1000));
    // The bars redraw on cli-progress's own timer (10 a second).
    await until("both bars drawn", () => /2024-01-01 [█░]+ 50\/100/.test(text()));
    display.logger?.warn("a warning while the bars are drawn");
    await until("the warning above the bars", () => text().includes("[waymark] a warning"));
    display.runFinished(finished("2024-01-01", "completed"));
    display.runFinished(finished("2024-01-02", "failed", new Error("quota exceeded")));
    display.finish();
    const shown = text();
    assert.match(shown, /2024-01-01 [█░]+ 50\/100 +50% \| 50\.0\/s \| ETA 1s/);
    assert.match(shown, /2024-01-02 [█░]+ 30\/100 +30% \| 30\.0\/s/);
    assert.match(
      shown,
      /daily [█░]+ 0\/4 partitions \| 2 running \| 80 entities \| 80\.0\/s \| ETA/,
    );
    assert.match(shown, /daily [█░]+ 2\/4 partitions \| 0 running \| 140 entities/);
    assert.match(shown, /\[waymark\] a warning while the bars are drawn/);
    assert.match(shown, /2024-01-02: failed at 40\/100: quota exceeded/);
    assert.doesNotMatch(shown, /2024-01-01: completed/, "completed partitions just leave");
  });

  it("without a terminal: a plain Progress: line at most every plainEveryMs", () => {
    const { out, text } = stream(false);
    let now = 0;
    const display = createPartitionsDisplay("daily", 3, {
      stream: out,
      clock: () => now,
      plainEveryMs: 10_000,
    });
    display.runStarted({ partition: "a" });
    display.onProgress({ partition: "a" }, progress("a", 10, 100));
    now = 10_000;
    display.onProgress({ partition: "a" }, progress("a", 50, 10_000));
    now = 12_000;
    display.runFinished(finished("a", "completed"));
    now = 20_000;
    display.runStarted({ partition: "b" });
    display.onProgress({ partition: "b" }, progress("b", 50, 8000));
    display.finish();
    assert.equal(display.logger, undefined, "log lines go where they always go");
    assert.deepEqual(text().trim().split("\n"), [
      "Progress: daily 0/3 partitions done, 1 running, 50 entities, 5.0/s, ETA 50s",
      "Progress: daily 1/3 partitions done, 1 running, 150 entities, 7.5/s, ETA 20s",
    ]);
  });
});
