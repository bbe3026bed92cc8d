import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { customerAt, writeExport } from "../../examples/ndjson-import/customers.js";
import { until } from "../support/time.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const LINES = 40_000;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

describe("examples/ndjson-import", { timeout: 120_000 }, () => {
  let dir: string;
  let file: string;
  let storePath: string;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "waymark-import-"));
    file = join(dir, "customers.ndjson");
    storePath = join(dir, "import.db");
    await writeExport(file, LINES);
  });
  afterEach(() => {
    const running = children.filter((c) => c.exitCode === null && c.signalCode === null);
    for (const child of running) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    assert.equal(running.length, 0, "the test left a child process running");
  });

  function start(): { child: ChildProcess; exited: Promise<Exit> } {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "examples/ndjson-import/main.ts", "--file", file, "--store", storePath],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    children.push(child);
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const exited = once(child, "close").then(([code, signal]) => ({
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
      stdout,
      stderr,
    }));
    return { child, exited };
  }

  it("imports every line exactly once after a SIGKILL mid-import and a resume", async () => {
    const first = start();
    // Hold the file's write lock while deciding, so that the child cannot commit (or finish)
    // between reading its progress and killing it: it is killed waiting to commit a batch.
    let db: Database.Database | undefined;
    let committed = 0;
    await until("the first run to commit a few batches", () => {
      db ??= openIfCreated(storePath);
      if (!db) return false;
      db.exec("BEGIN IMMEDIATE");
      committed = countCustomers(db);
      if (committed >= 6000) return true;
      db.exec("ROLLBACK");
      return false;
    });
    first.child.kill("SIGKILL");
    const killed = await first.exited;
    db?.exec("ROLLBACK");
    db?.close();
    assert.equal(killed.signal, "SIGKILL", killed.stderr);
    assert.ok(committed < LINES, "killed before the end");

    const second = await start().exited;
    assert.equal(second.code, 0, second.stderr);
    const result = JSON.parse(second.stdout.trim().split("\n").at(-1) ?? "{}");
    assert.equal(result.status, "completed");
    assert.equal(result.resumedFrom, committed, "resumed after the last committed batch");
    assert.equal(result.processed, LINES - committed, "and read only the lines after it");
    assert.match(second.stderr, new RegExp(`Found checkpoint: ${committed}/\\? complete`));

    const check = new Database(storePath, { readonly: true });
    try {
      const rows = check
        .prepare(
          "SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS ids, SUM(seats) AS seats FROM customers",
        )
        .get() as { n: number; ids: number; seats: number };
      let seats = 0;
      for (let n = 1; n <= LINES; n++) seats += customerAt(n).seats;
      assert.deepEqual(rows, { n: LINES, ids: LINES, seats });
      const last = check.prepare("SELECT * FROM customers WHERE id = ?").get(LINES);
      assert.deepEqual(last, customerAt(LINES));
    } finally {
      check.close();
    }
  });
});

/** The store's file once the child has created its table, or undefined before. */
function openIfCreated(path: string): Database.Database | undefined {
  try {
    const db = new Database(path, { fileMustExist: true, timeout: 10_000 });
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'customers'").get();
    if (table) return db;
    db.close();
  } catch {
    // Not created yet.
  }
  return undefined;
}

function countCustomers(db: Database.Database): number {
  return (db.prepare("SELECT COUNT(*) AS n FROM customers").get() as { n: number }).n;
}
