import { defineProcessor, type FileRecord, fromFile, type SqliteTx } from "../../src/index.js";
import { Customer } from "./customers.js";

/** Where the import lands: one row per customer id. */
export const CUSTOMERS_TABLE = `CREATE TABLE IF NOT EXISTS customers (
  id    INTEGER PRIMARY KEY,
  name  TEXT    NOT NULL,
  email TEXT    NOT NULL,
  plan  TEXT    NOT NULL,
  seats INTEGER NOT NULL)`;

// An upsert keyed by the customer id: importing the file again (a reset, a changed export)
// updates rows instead of failing on duplicates.
const UPSERT = `INSERT INTO customers (id, name, email, plan, seats) VALUES (?, ?, ?, ?, ?)
  ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email,
    plan = excluded.plan, seats = excluded.seats`;

/**
 * Imports an NDJSON export of customers into the SQLite store's database. `fromFile` streams
 * the file and decodes each line with the zod schema; the cursor is the byte offset of the
 * next line, so a resume seeks there. Rows are written through `ctx.tx`: each batch's rows
 * commit with its checkpoint, so a kill loses no row and imports none twice.
 */
export function importProcessor(path: string) {
  return defineProcessor<FileRecord<Customer>, undefined, SqliteTx>({
    name: "import-customers",
    batchSize: 2000,
    // A killed import's lease lapses after 5 s (the heartbeat renews it while a run lives),
    // so a restart waits at most that long.
    leaseTtlMs: 5000,
    ...fromFile(path, { decode: Customer }),
    processBatch(records, ctx) {
      for (const { value: c } of records)
        ctx.tx.run(UPSERT, c.id, c.name, c.email, c.plan, c.seats);
    },
  });
}
