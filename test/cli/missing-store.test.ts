import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { defineProcessor, openStore, run, StoreError } from "../../src/index.js";
import { NO_SERVER, PG_TEST_URL } from "../stores/postgres-factory.js";
import { waymark } from "./cli.js";

/** Every command that only looks at a store, or changes one that exists. */
const COMMANDS: ReadonlyArray<readonly string[]> = [
  ["status"],
  ["runs"],
  ["stats"],
  ["stale"],
  ["advise"],
  ["failures"],
  ["gc", "--dry-run"],
  ["gc"],
  ["reset", "p", "default", "--yes"],
  ["dashboard", "--port", "0"],
];

/** Runs the commands three at a time: nine at once would crowd two cores. */
async function inTurn(commands: ReadonlyArray<readonly string[]>) {
  const results: Awaited<ReturnType<typeof waymark>>[] = [];
  for (let i = 0; i < commands.length; i += 3) {
    const group = commands.slice(i, i + 3).map((args) => waymark(args, { timeoutMs: 60_000 }));
    results.push(...(await Promise.all(group)));
  }
  return results;
}

/** Every path under `dir`, to see that nothing appeared. */
function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).sort();
}

describe("commands on a store that is not there", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-missing-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("exit 3 with `No store at PATH` and create no file or folder", async () => {
    const typo = join(dir, "ghost", "sub", "typo.db");
    const results = await inTurn(COMMANDS.map((args) => [...args, "--store", `sqlite:${typo}`]));
    for (const [i, result] of results.entries()) {
      const command = (COMMANDS[i] ?? []).join(" ");
      assert.equal(result.code, 3, `${command}: ${result.stderr}`);
      assert.match(
        result.stderr,
        new RegExp(`^waymark: No store at ${typo}: no file there`),
        command,
      );
      assert.equal(result.stdout, "", `${command} reports nothing as if all were clear`);
    }
    assert.deepEqual(tree(dir), [], "no folder, file or schema was created");
  });

  it("the default store: says so and how to point at another; creates no .waymark folder", async () => {
    const cwd = mkdtempSync(join(dir, "project-"));
    const result = await waymark(["status"], { cwd });
    assert.equal(result.code, 3);
    assert.match(result.stderr, /No store at \.waymark\/waymark\.db: no file there/);
    assert.match(result.stderr, /--store URL \(sqlite:PATH or postgres:\/\/…\) or WAYMARK_STORE/);
    assert.deepEqual(tree(cwd), []);
  });

  it("a file that is not a waymark store is refused, and left as it was", async () => {
    const other = join(dir, "other.db");
    const { connectSqlite } = await import("../../src/stores/sqlite/sqlite-driver.js");
    const db = connectSqlite(other, { timeout: 1000 });
    db.exec("CREATE TABLE mine (x INTEGER)");
    db.close();
    const before = tree(dir);
    const result = await waymark(["runs", "--store", `sqlite:${other}`]);
    assert.equal(result.code, 3);
    assert.match(result.stderr, /not a waymark store \(it has no waymark tables\)/);
    assert.deepEqual(tree(dir), before);
    const empty = join(dir, "empty.db");
    writeFileSync(empty, "");
    assert.equal((await waymark(["status", "--store", `sqlite:${empty}`])).code, 3);
  });

  it("reads an existing store without writing to it or leaving files beside it", async () => {
    const folder = mkdtempSync(join(dir, "real-"));
    const url = `sqlite:${join(folder, "waymark.db")}`;
    const store = await openStore(url);
    const processor = defineProcessor({
      name: "seen",
      entities: () => [1, 2, 3],
      id: (n: number) => n,
      processBatch() {},
    });
    assert.equal((await run(processor, { store, logger: false })).status, "completed");
    await store.close();
    const files = tree(folder);
    assert.deepEqual(files, ["waymark.db"]);
    const [runs, stats] = await Promise.all([
      waymark(["runs", "--json", "--store", url]),
      waymark(["stats", "--json", "--store", url]),
    ]);
    assert.equal(runs.code, 0, runs.stderr);
    assert.equal((JSON.parse(runs.stdout) as unknown[]).length, 1);
    assert.equal(stats.code, 0, stats.stderr);
    assert.deepEqual(tree(folder), files, "no -wal or -shm left behind");
    // In code: a read-only store refuses writes, naming the file.
    const reports = await openStore(url, { readOnly: true });
    await assert.rejects(
      (
        reports as unknown as { deleteCheckpoint: (key: object) => Promise<boolean> }
      ).deleteCheckpoint({
        processor: "seen",
        partition: "default",
        shard: "",
      }),
      (error: unknown) => error instanceof StoreError && error.code === "STORE_READ_ONLY",
    );
    await reports.close();
  });

  it("on PostgreSQL: a missing schema is exit 3 and is not created", {
    skip: NO_SERVER,
  }, async () => {
    const url = new URL(PG_TEST_URL as string);
    const schema = `missing_${Date.now().toString(36)}`;
    url.searchParams.set("schema", schema);
    const results = await Promise.all(
      COMMANDS.map((args) => waymark([...args, "--store", url.href])),
    );
    for (const [i, result] of results.entries()) {
      assert.equal(result.code, 3, `${(COMMANDS[i] ?? []).join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(`No store at .*there is no schema "${schema}"`));
    }
    const pool = new pg.Pool({ connectionString: PG_TEST_URL, max: 1 });
    try {
      const found = await pool.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema]);
      assert.equal(found.rows.length, 0, "no schema was created");
    } finally {
      await pool.end();
    }
  });
});
