import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { SQLITE_MIGRATIONS } from "../../src/stores/sqlite/sqlite-migrations.js";
import { SqliteStore } from "../../src/stores/sqlite/sqlite-store.js";

const dir = mkdtempSync(join(tmpdir(), "waymark-migrate-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("sqlite migrations", () => {
  it("upgrades a version-1 file to the failure ledger, keeping its checkpoints", async () => {
    const file = join(dir, "v1.db");
    const old = new Database(file);
    old.exec(SQLITE_MIGRATIONS[0] as string);
    old.pragma("user_version = 1");
    old.exec(`INSERT INTO checkpoints (processor, partition, cursor, completed, created_at, updated_at)
              VALUES ('players', '2024-01-15', '300', 300, 1, 1)`);
    old.close();
    const store = new SqliteStore(file);
    try {
      assert.equal(
        store.database.pragma("user_version", { simple: true }),
        SQLITE_MIGRATIONS.length,
      );
      const kept = await store.getCheckpoint({
        processor: "players",
        partition: "2024-01-15",
        shard: "",
      });
      assert.equal(kept?.cursor, 300);
      assert.deepEqual(await store.listFailures(), []);
    } finally {
      await store.close();
    }
  });
});
