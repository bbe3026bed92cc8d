import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { until } from "../support/time.js";
import { type CliResult, startWaymark, waymark } from "./cli.js";

const MODULE = fileURLToPath(new URL("../fixtures/growing-table.ts", import.meta.url));
const DAILY = fileURLToPath(new URL("../fixtures/backfill-processors.ts", import.meta.url));

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

  it("taking over a killed run's checkpoint says it redoes at most its batch in flight", async () => {
    const db = join(dir, "waymark.db");
    const database = new Database(db);
    database.exec(`CREATE TABLE effects (processor TEXT, partition TEXT, entity INTEGER,
      writes INTEGER, PRIMARY KEY (processor, partition, entity))`);
    database.close();
    const log = join(dir, "batches.log");
    const env = { BATCH_DELAY_MS: "150", LEASE_TTL_MS: "1000", EFFECTS_LOG: log };
    const args = ["run", DAILY, "visits", "--partition", "a", ...store];
    const killed = startWaymark(args, { env });
    // Killed once a batch has committed: the takeover then has committed entities to keep.
    await until("a batch is committed", () => {
      if (!existsSync(log) || readFileSync(log, "utf8") === "") return false;
      const store = new Database(db, { readonly: true });
      try {
        const row = store.prepare("SELECT max(completed) AS done FROM checkpoints").get() as {
          done: number | null;
        };
        return (row.done ?? 0) > 0;
      } finally {
        store.close();
      }
    });
    killed.child.kill("SIGKILL");
    await killed.exited;
    let said = "";
    await until("a rerun takes the checkpoint over and finishes", async () => {
      const rerun = await waymark(args, { env });
      said += rerun.stderr;
      assert.ok(rerun.code === 0 || rerun.code === 75, rerun.stderr);
      return rerun.code === 0;
    });
    assert.match(
      said,
      /Took over visits\/a from \S+ \(run [\w-]+\), whose lease expired without a release: it died or stalled mid-run\. The batch it had in flight is processed again \(at most one batch; its [1-9]\d* committed entities are not\)/,
    );
  });
});
