// With --concurrency, the runs' log lines interleave: each names its partition.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { waymark } from "./cli.js";

const MODULE = fileURLToPath(new URL("../fixtures/backfill-processors.ts", import.meta.url));
const DAYS = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"];

describe("waymark run --concurrency 4, text logs", () => {
  let dir: string;
  let store: string[];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-lines-"));
    const db = join(dir, "waymark.db");
    store = ["--store", `sqlite:${db}`];
    const database = new Database(db);
    database.exec(`CREATE TABLE effects (processor TEXT, partition TEXT, entity INTEGER,
      writes INTEGER, PRIMARY KEY (processor, partition, entity))`);
    database.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("name the partition of every run's line: four resumes, four different lines", async () => {
    // Each day fails once, at its batch of entities 31-40, leaving a checkpoint at 30/50.
    for (const day of DAYS) {
      const failed = await waymark(["run", MODULE, "visits", "--partition", day, ...store], {
        env: { FAIL_PARTITION: day },
      });
      assert.equal(failed.code, 1, failed.stderr);
    }
    const resumed = await waymark([
      "run",
      MODULE,
      "visits",
      "--partitions",
      DAYS.join(","),
      "--concurrency",
      "4",
      ...store,
    ]);
    assert.equal(resumed.code, 0, resumed.stderr);
    const found = resumed.stderr.split("\n").filter((line) => line.includes("Found checkpoint"));
    assert.deepEqual(
      found.sort(),
      DAYS.map((day) => `[waymark] visits/${day}: Found checkpoint: 30/50 complete (last: 30)`),
    );
    // Every line of a run names it; only the backfill's own lines (start, counts) do not.
    for (const line of resumed.stderr.trim().split("\n")) {
      if (/^\[waymark\] (Running visits on|visits: )/.test(line)) continue;
      assert.match(line, /visits\/2024-01-0\d/, line);
    }
  });
});
