import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { defineProcessor, loadRuns, openStore, run } from "../../src/index.js";
import { connectSqlite } from "../../src/stores/sqlite/sqlite-driver.js";
import { NO_SERVER, PG_TEST_URL } from "../stores/postgres-factory.js";
import { waymark } from "./cli.js";

const oneRun = defineProcessor({
  name: "by-hand",
  entities: () => [1, 2, 3],
  id: (n: number) => n,
  processBatch() {},
});

describe("waymark schema", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-schema-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("SQLite: prints the schema without creating anything; a file made from it is current", async () => {
    const file = join(dir, "by-hand.db");
    const printed = await waymark(["schema", "--store", `sqlite:${file}`]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.equal(existsSync(file), false, "printing creates nothing");
    assert.match(printed.stderr, /at schema version 0; this waymark uses \d+/);
    assert.match(printed.stdout, /^CREATE TABLE "?checkpoints"? \(/m);
    assert.match(printed.stdout, /^PRAGMA user_version = \d+;$/m);
    // As a DBA would run it (sqlite3 by-hand.db < waymark.sql).
    const db = connectSqlite(file, { timeout: 1000 });
    db.exec(printed.stdout);
    db.close();
    const reports = await openStore(`sqlite:${file}`, { readOnly: true });
    assert.deepEqual(await loadRuns(reports), [], "a read-only open finds it current");
    await reports.close();
    const store = await openStore(`sqlite:${file}`);
    assert.equal((await run(oneRun, { store, logger: false })).status, "completed");
    await store.close();
    const again = await waymark(["schema", "--store", `sqlite:${file}`, "--json"]);
    const described = JSON.parse(again.stdout) as { current: number; latest: number };
    assert.equal(described.current, described.latest);
  });

  it("SQLite --apply creates or migrates, and says what it did", async () => {
    const file = join(dir, "applied.db");
    const first = await waymark(["schema", "--store", `sqlite:${file}`, "--apply"]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /applied\.db: schema version 0 -> \d+\./);
    const second = await waymark(["schema", "--store", `sqlite:${file}`, "--apply", "--json"]);
    const { from, to } = JSON.parse(second.stdout) as { from: number; to: number };
    assert.equal(from, to);
    assert.equal((await waymark(["schema", "--store", "memory:"])).code, 2);
  });

  it("PostgreSQL: the printed SQL, run by hand, makes a schema every command finds current", {
    skip: NO_SERVER,
  }, async () => {
    const schema = `by_hand_${Date.now().toString(36)}`;
    const url = new URL(PG_TEST_URL as string);
    url.searchParams.set("schema", schema);
    const pool = new pg.Pool({ connectionString: PG_TEST_URL, max: 1 });
    try {
      const printed = await waymark(["schema", "--store", url.href]);
      assert.equal(printed.code, 0, printed.stderr);
      assert.match(printed.stdout, new RegExp(`^CREATE SCHEMA IF NOT EXISTS "${schema}";$`, "m"));
      const exists = async () =>
        (await pool.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema])).rows.length >
        0;
      assert.equal(await exists(), false, "printing creates nothing");
      await pool.query(printed.stdout); // psql -f waymark.sql
      const status = await waymark(["status", "--store", url.href]);
      assert.equal(status.code, 0, status.stderr);
      const store = await openStore(url.href);
      assert.equal((await run(oneRun, { store, logger: false })).status, "completed");
      await store.close();
      const current = await waymark(["schema", "--store", url.href]);
      assert.match(current.stdout, /are at version \d+: nothing to run/);
      const applied = await waymark(["schema", "--store", url.href, "--apply"]);
      assert.match(applied.stdout, /is at schema version \d+ already: nothing to do/);
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    }
  });
});
