import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { defineProcessor } from "../../src/core/processor.js";
import { run } from "../../src/core/run.js";
import { SqliteStore } from "../../src/stores/sqlite/sqlite-store.js";
import { noBackoff } from "../support/time.js";

const DAY = 86_400_000;

/** A SQLite store holding one good checkpoint and one corrupt one, both from real runs. */
export interface CorruptStore {
  readonly path: string;
  /** Reads the store from outside, as the tests check what is left. */
  keys(): string[];
  cleanup(): void;
}

/**
 * Runs `ids/good` and `ids/bad` (twenty ids, batches of five) until id 11 fails, leaving both
 * at 10/20 with no live lease; dates `good` three days back so that it is stale; then edits
 * `bad` from outside with `assignment` (e.g. `completed = 'abc'`).
 */
export async function corruptStore(assignment: string): Promise<CorruptStore> {
  const dir = mkdtempSync(join(tmpdir(), "waymark-corrupt-store-"));
  const path = join(dir, "waymark.db");
  const store = new SqliteStore(path);
  const ids = Array.from({ length: 20 }, (_, i) => i + 1);
  const processor = defineProcessor<number>({
    name: "ids",
    batchSize: 5,
    entities: ({ after }) => ids.filter((n) => after === null || n > (after as number)),
    count: () => ids.length,
    id: (n) => n,
    retry: { attempts: 1 },
    async processBatch(batch) {
      if (batch.includes(11)) throw new Error("id 11 fails");
    },
  });
  for (const partition of ["good", "bad"]) {
    await run(processor, { store, partition, logger: false, sleep: noBackoff });
  }
  await store.close();
  const outside = new Database(path);
  outside
    .prepare("UPDATE checkpoints SET updated_at = updated_at - ? WHERE partition = 'good'")
    .run(3 * DAY);
  outside.exec(`UPDATE checkpoints SET ${assignment} WHERE partition = 'bad'`);
  return {
    path,
    keys: () =>
      (
        outside
          .prepare("SELECT processor, partition FROM checkpoints ORDER BY partition")
          .all() as {
          processor: string;
          partition: string;
        }[]
      ).map((r) => `${r.processor}/${r.partition}`),
    cleanup() {
      outside.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
