/**
 * Runs one source to its end in this fresh process, with no-op batches, and prints its peak
 * RSS: `KIND WHERE TABLE_OR_FILE` with KIND `query` (WHERE a postgres:// URL or a SQLite
 * path), `file` or `range` (WHERE the count).
 */

import Database from "better-sqlite3";
import pg from "pg";
import {
  defineProcessor,
  fromFile,
  fromQuery,
  fromRange,
  MemoryStore,
  run,
  type Source,
} from "../src/index.js";

const [kind, where, name] = process.argv.slice(2) as [string, string, string];
let close = async () => {};
let source: Source<unknown>;
if (kind === "query") {
  let db: pg.Pool | Database.Database;
  if (where.startsWith("postgres")) {
    const pool = new pg.Pool({ connectionString: where, max: 2 });
    db = pool;
    close = () => pool.end();
  } else {
    db = new Database(where, { readonly: true });
  }
  const query = fromQuery({ db, table: name, key: "id", logger: false });
  source = query as Source<unknown>;
} else if (kind === "file") {
  source = fromFile(where) as Source<unknown>;
} else {
  source = fromRange({ from: 1, to: Number(where) }) as Source<unknown>;
}

let peakRss = process.memoryUsage().rss;
const result = await run(
  defineProcessor({ name: "bench-source-memory", batchSize: 1000, ...source, processBatch() {} }),
  {
    store: new MemoryStore(),
    logger: false,
    onProgress: () => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    },
  },
);
await close();
if (result.status !== "completed") throw new Error(`${kind}: ${result.error?.message}`);
// maxRSS (KiB) is the kernel's peak, which also catches a spike between two samples.
peakRss = Math.max(peakRss, process.resourceUsage().maxRSS * 1024);
process.stdout.write(`${JSON.stringify({ peakRss, processed: result.processed })}\n`);
