import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStore } from "../../src/stores/memory/memory-store.js";
import { SqliteStore } from "../../src/stores/sqlite/sqlite-store.js";
import type { CheckpointStore } from "../../src/stores/store.js";
import { postgres } from "./postgres-factory.js";

/** An open store for one test, and how to throw it away. */
export interface OpenedStore {
  store: CheckpointStore;
  /** Writes one effect through `ctx.tx` in the store's dialect (for exactly-once checks). */
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
        (tx as { run(effect: () => void): void }).run(() =>
          written.set(key, (written.get(key) ?? 0) + 1),
        );
      },
      effects: async () => new Map(written),
      cleanup: () => store.close(),
    };
  },
};

const sqlite: StoreFactory = {
  name: "sqlite",
  async open() {
    const dir = mkdtempSync(join(tmpdir(), "waymark-test-"));
    const store = new SqliteStore(join(dir, "waymark.db"));
    store.database.exec("CREATE TABLE effects (key TEXT PRIMARY KEY, writes INTEGER NOT NULL)");
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

const ALL: StoreFactory[] = [memory, sqlite, postgres];

/** The stores the contract suite runs on; `STORES=sqlite,memory` narrows it. */
export const STORE_FACTORIES: StoreFactory[] = process.env.STORES
  ? ALL.filter((f) => process.env.STORES?.split(",").includes(f.name))
  : ALL;
