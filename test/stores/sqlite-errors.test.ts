import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { openStore, SqliteStore, StoreError } from "../../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "waymark-sqlite-errors-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Asserts a typed store error that names the file, keeps the driver's error and says what to do. */
function storeError(code: string, path: string, cause: RegExp, fix: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof StoreError, `expected a StoreError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.location, path);
    assert.ok(error.message.includes(path), error.message);
    assert.match(error.message, fix);
    assert.match(String((error.cause as { code?: string })?.code), cause);
    return true;
  };
}

describe("SQLite store: opening a bad file is a typed error", () => {
  it("a text file is not a database: STORE_CORRUPT", async () => {
    const path = join(dir, "notes.txt");
    writeFileSync(path, "these are my notes, not a database\n".repeat(100));
    assert.throws(
      () => new SqliteStore(path),
      storeError(
        "STORE_CORRUPT",
        path,
        /SQLITE_NOTADB/,
        /is not a SQLite database.*move this one away/,
      ),
    );
    await assert.rejects(
      openStore(`sqlite:${path}`),
      storeError("STORE_CORRUPT", path, /NOTADB/, /--store/),
    );
  });

  it("a truncated database is corrupt: STORE_CORRUPT", async () => {
    const path = join(dir, "truncated.db");
    const store = new SqliteStore(path);
    store.database.exec("CREATE TABLE filler (x TEXT)");
    const insert = store.database.prepare("INSERT INTO filler VALUES (?)");
    for (let i = 0; i < 100; i++) insert.run("x".repeat(500));
    await store.close();
    truncateSync(path, 8192);
    assert.throws(
      () => new SqliteStore(path),
      storeError("STORE_CORRUPT", path, /SQLITE_CORRUPT/, /Restore it from a backup.*\.recover/),
    );
  });

  it("a folder where the file should be: STORE_UNAVAILABLE", () => {
    const path = join(dir, "a-folder.db");
    mkdirSync(path);
    assert.throws(
      () => new SqliteStore(path),
      storeError("STORE_UNAVAILABLE", path, /SQLITE_CANTOPEN/, /names a file \(not a folder\)/),
    );
  });

  it("a folder the file system cannot create (under /proc): STORE_UNAVAILABLE, at once", {
    skip: existsSync("/proc/self") ? false : "no /proc on this system",
  }, () => {
    // Node's recursive mkdir loops for ever there; the store must fail instead.
    const path = "/proc/waymark-nope/waymark.db";
    assert.throws(
      () => new SqliteStore(path),
      storeError("STORE_UNAVAILABLE", path, /ENOENT/, /Cannot open the SQLite store/),
    );
  });

  it("a path that runs through a regular file: STORE_UNAVAILABLE", () => {
    const file = join(dir, "plain-file");
    writeFileSync(file, "x");
    const path = join(file, "sub", "waymark.db");
    assert.throws(
      () => new SqliteStore(path),
      storeError("STORE_UNAVAILABLE", path, /EEXIST|ENOTDIR/, /is a file, not a folder/),
    );
  });
});
