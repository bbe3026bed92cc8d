import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { type CliResult, waymark } from "./cli.js";

const MODULE = fileURLToPath(new URL("../fixtures/growing-table.ts", import.meta.url));

describe("waymark run: when work is redone", () => {
  let dir: string;
  let data: string;
  let store: string[];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-redo-"));
    data = join(dir, "data.db");
    store = ["--store", `sqlite:${join(dir, "waymark.db")}`];
    insertOrders(1, 100);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function insertOrders(from: number, to: number): void {
    const db = new Database(data);
    db.exec("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY)");
    const insert = db.prepare("INSERT INTO orders (id) VALUES (?)");
    for (let id = from; id <= to; id++) insert.run(id);
    db.close();
  }

  /** The NDJSON events `--json` printed. */
  const events = (result: CliResult): Array<Record<string, unknown>> =>
    result.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  const run = (env: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
    waymark(["run", MODULE, "--partition", "all", "--json", ...store], {
      env: { DATA_DB: data, ...env },
    });

  it("resumes a fromQuery({ count: true }) table that grew, with the new total", async () => {
    const failed = await run({ FAIL_AT: "45" });
    assert.equal(failed.code, 1, failed.stderr);
    insertOrders(101, 101); // the table grew at its end between the two runs
    const resumed = await run();
    assert.equal(resumed.code, 0, resumed.stderr);
    const result = events(resumed).find((e) => e.event === "run-finished");
    assert.equal(result?.resumedFrom, 40, resumed.stdout);
    assert.equal(result?.processed, 61, "the 40 committed orders are not redone");
    assert.equal(result?.total, 101);
    assert.match(
      resumed.stderr,
      /The total of import-orders\/all changed since its checkpoint \(total 100 -> 101\); resuming after the cursor/,
    );
    assert.doesNotMatch(resumed.stderr, /Starting over/);
  });
});
