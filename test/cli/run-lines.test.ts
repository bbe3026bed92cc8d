// What `waymark run` says at the end of a run is true: a run that skipped entities says how
// many and where they went (summary line, --json and history row); a run that failed says
// what to do about its checkpoint for the cause it failed of.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { SqliteStore } from "../../src/index.js";
import { corruptStore } from "../reports/corrupt-store.js";
import { waymark } from "./cli.js";

const POISONED = fileURLToPath(new URL("../fixtures/poison-processors.ts", import.meta.url));

describe("a run's closing lines", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-run-lines-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a run that skipped 4 entities says so in its summary, --json and history row", async () => {
    const file = join(dir, "skipped.db");
    const store = new SqliteStore(file);
    store.database.exec("CREATE TABLE effects (key TEXT PRIMARY KEY, writes INTEGER NOT NULL)");
    await store.close();
    const url = `sqlite:${file}`;
    const env = { POISON: "3,500,501,9000" };
    const text = await waymark(["run", POISONED, "--partition", "p1", "--store", url], { env });
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /^poisoned: 1 partition: 1 completed in \S+; 9,996 entities processed, 4 skipped to the failure ledger: `waymark failures`\.$/m,
    );
    assert.match(
      text.stderr,
      /Completed poisoned\/p1: 10000\/10000 \(100\.0%\) in \d+ ms; 4 entities skipped to the failure ledger \(`waymark failures`\)\./,
    );

    const json = await waymark(["run", POISONED, "--partition", "p2", "--store", url, "--json"], {
      env,
    });
    assert.equal(json.code, 0, json.stderr);
    const events = json.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const finished = events.find((e) => e.event === "run-finished");
    const summary = events.find((e) => e.event === "summary");
    assert.deepEqual([finished?.processed, finished?.skipped], [9996, 4]);
    assert.deepEqual([summary?.processed, summary?.skipped], [9996, 4]);

    const reopened = new SqliteStore(file);
    try {
      const runs = await reopened.listRuns({ processor: "poisoned" });
      assert.deepEqual(
        runs.map((r) => [r.partition, r.status, r.processed, r.skipped]),
        [
          ["p2", "completed", 9996, 4],
          ["p1", "completed", 9996, 4],
        ],
      );
    } finally {
      await reopened.close();
    }
    const table = await waymark(["runs", "--store", url]);
    assert.match(table.stdout, /completed\s+9996 of 10000 \(4 skipped\)/);
  });
});

describe("a failed run's advice fits its cause", () => {
  const LINES = fileURLToPath(new URL("../fixtures/closing-lines.ts", import.meta.url));

  it("ORDER_VIOLATION: fix the source, not run again", async () => {
    const out = await waymark(["run", LINES, "unsorted", "--partition", "p", "--store", "memory:"]);
    assert.equal(out.code, 1, out.stderr);
    assert.match(
      out.stderr,
      /Failed at 4\/6\. Fix the entity source first: a run started again would stop at the same entity\. .*id 4 \(number\) arrived after 5/,
    );
    assert.doesNotMatch(out.stderr, /can resume/);
    assert.match(out.stdout, /Fix the entity source of p first: its ids must ascend/);
    assert.doesNotMatch(out.stdout, /Run the same command again/);
  });

  it("a corrupt checkpoint: the line names the corruption and waymark reset", async () => {
    const fixture = await corruptStore("completed = -5");
    try {
      const url = `sqlite:${fixture.path}`;
      const out = await waymark(["run", LINES, "ids", "--partition", "bad", "--store", url]);
      assert.equal(out.code, 1, out.stderr);
      assert.match(
        out.stderr,
        /Failed at 0\/\?\. The checkpoint is kept, but cannot be resumed: The checkpoint of ids\/bad is corrupt: completed is -5 \(number\);.* Reset it with `waymark reset ids bad`/,
      );
      assert.doesNotMatch(out.stderr, /No checkpoint to resume from/);
    } finally {
      fixture.cleanup();
    }
  });
});
