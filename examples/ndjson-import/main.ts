// Imports an NDJSON export of customers into SQLite, resuming after a kill where the last
// committed batch ended. Generates the export first when the file does not exist
// (--lines, default 1,000,000). Prints one JSON line with the run's result on stdout.
//
//   node --import tsx examples/ndjson-import/main.ts --file .waymark/customers.ndjson --store .waymark/import.db
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { type Logger, run, SqliteStore } from "../../src/index.js";
import { writeExport } from "./customers.js";
import { CUSTOMERS_TABLE, importProcessor } from "./processor.js";

const { values } = parseArgs({
  options: {
    file: { type: "string", default: ".waymark/customers.ndjson" },
    store: { type: "string", default: ".waymark/import.db" },
    lines: { type: "string", default: "1000000" },
  },
});
if (!existsSync(values.file)) {
  process.stderr.write(`Writing ${values.lines} customers to ${values.file}...\n`);
  await writeExport(values.file, Number(values.lines));
}
// Progress goes to stderr, so that stdout carries only the result.
const stderr = (message: string) => process.stderr.write(`[waymark] ${message}\n`);
const logger: Logger = { debug() {}, info: stderr, warn: stderr, error: stderr };

const store = new SqliteStore(values.store);
store.database.exec(CUSTOMERS_TABLE);
const processor = importProcessor(values.file);
let result = await run(processor, { store, logger, progressEveryMs: 1000 });
// A killed run's lease outlives it until it lapses: wait for that, as a queue's retry would.
const waitUntil = Date.now() + 3 * processor.leaseTtlMs;
while (result.status === "busy" && Date.now() < waitUntil) {
  await sleep(250);
  result = await run(processor, { store, logger, progressEveryMs: 1000 });
}
const { rows } = store.database.prepare("SELECT COUNT(*) AS rows FROM customers").get() as {
  rows: number;
};
await store.close();
const { status, processed, resumedFrom, completed, durationMs } = result;
console.log(JSON.stringify({ status, processed, resumedFrom, completed, rows, durationMs }));
process.exitCode = status === "completed" ? 0 : 1;
