import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";

/** A SQLite store file of its own, with the `effects` table the CLI fixtures write into. */
export interface EffectsDb {
  /** The database file. */
  readonly db: string;
  /** `--store sqlite:FILE`, for `waymark` arguments. */
  readonly store: readonly string[];
  cleanup(): void;
}

/** Creates an {@link EffectsDb} in a new temporary folder named from `prefix`. */
export function effectsDb(prefix: string): EffectsDb {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const db = join(dir, "waymark.db");
  const database = new Database(db);
  database.exec(`CREATE TABLE effects (processor TEXT, partition TEXT, entity INTEGER,
    writes INTEGER, PRIMARY KEY (processor, partition, entity))`);
  database.close();
  return {
    db,
    store: ["--store", `sqlite:${db}`],
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
