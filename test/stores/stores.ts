import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe } from "node:test";
import type { CheckpointStore } from "../../src/core/store/checkpoint-store.js";
import { MemoryStore, type MemoryTx } from "../../src/stores/memory/memory-store.js";
import { SqliteStore } from "../../src/stores/sqlite/sqlite-store.js";
import { NO_SERVER, postgres } from "./postgres-factory.js";

/** An open store for one test, and how to throw it away. */
export interface OpenedStore {
  store: CheckpointStore;
  /**
   * Writes one effect through `ctx.tx` in the store's dialect (for exactly-once checks). A key
   * starting with `poison` breaks a CHECK constraint of the effects table (on memory, the
   * effect throws at commit), as a bad row written through `ctx.tx` would.
   */
  writeEffect(tx: unknown, key: string): void | Promise<void>;
  /** Every effect key written through `ctx.tx`, with how many times it was written. */
  effects(): Promise<Map<string, number>>;
  cleanup(): Promise<void>;
}

/** How the contract suite gets a fresh, isolated store of one kind. */
export interface StoreFactory {
  name: string;
  open(): Promise<OpenedStore>;
}

const memory: StoreFactory = {
  name: "memory",
  async open() {
    const store = new MemoryStore();
    const written = new Map<string, number>();
    return {
      store,
      writeEffect(tx, key) {
        (tx as MemoryTx).run(
          () => {
            if (key.startsWith("poison")) {
              // As a database's constraint error: permanent by its code.
              const error = new Error(`CHECK constraint failed: ${key}`);
              throw Object.assign(error, { code: "SQLITE_CONSTRAINT_CHECK" });
            }
            written.set(key, (written.get(key) ?? 0) + 1);
          },
          () => {
            const writes = (written.get(key) ?? 0) - 1;
            if (writes > 0) written.set(key, writes);
            else written.delete(key);
          },
        );
      },
      effects: async () => new Map(written),
      cleanup: () => store.close(),
    };
  },
};

/** A SQLite file of its own; `store.path` names it. */
export const sqlite: StoreFactory = {
  name: "sqlite",
  async open() {
    const dir = mkdtempSync(join(tmpdir(), "waymark-test-"));
    const store = new SqliteStore(join(dir, "waymark.db"));
    store.database.exec(
      `CREATE TABLE effects (key TEXT PRIMARY KEY CHECK (key NOT LIKE 'poison%'),
         writes INTEGER NOT NULL)`,
    );
    return {
      store,
      writeEffect(tx, key) {
        (tx as { run(sql: string, ...params: unknown[]): void }).run(
          `INSERT INTO effects (key, writes) VALUES (?, 1)
           ON CONFLICT (key) DO UPDATE SET writes = writes + 1`,
          key,
        );
      },
      async effects() {
        const rows = store.database.prepare("SELECT key, writes FROM effects").all() as Array<{
          key: string;
          writes: number;
        }>;
        return new Map(rows.map((r) => [r.key, r.writes]));
      },
      async cleanup() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

// Without a server the PostgreSQL leg is skipped, and says so once in each file that uses it.
const ALL: StoreFactory[] = NO_SERVER ? [memory, sqlite] : [memory, sqlite, postgres];
if (NO_SERVER) describe("every store: the postgres leg", { skip: NO_SERVER }, () => {});

/** The stores the contract suite runs on; `STORES=sqlite,memory` narrows it. */
export const STORE_FACTORIES: StoreFactory[] = process.env.STORES
  ? ALL.filter((f) => process.env.STORES?.split(",").includes(f.name))
  : ALL;
