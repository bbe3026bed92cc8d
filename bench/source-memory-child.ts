/**
 * Runs one source to its end in this fresh process, with no-op batches, and prints its peak
 * RSS: `KIND WHERE TABLE_OR_FILE [CACHE_SIZE]` with KIND `query` (WHERE a postgres:// URL or
 * a SQLite path, CACHE_SIZE SQLite's `cache_size` pragma), `file` or `range` (WHERE the count).
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
} from "../dist/index.js";

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
    const sqlite = new Database(where, { readonly: true });
    // An optional 4th argument caps SQLite's page cache (better-sqlite3 builds it at 16 MiB).
    if (process.argv[5]) sqlite.pragma(`cache_size = ${Number(process.argv[5])}`);
    db = sqlite;
  }
  const query = fromQuery({ db, table: name, key: "id", logger: false });
  source = query as Source<unknown>;
} else if (kind === "file") {
  source = fromFile(where) as Source<unknown>;
} else {
  source = fromRange({ from: 1, to: Number(where) }) as Source<unknown>;
}

// With --expose-gc, the live heap after a full collection is sampled every 100 batches: what
// the source holds on to, free of the GC letting garbage pile up before it collects.
const gc = (globalThis as { gc?: () => void }).gc;
let peakRss = process.memoryUsage().rss;
let peakHeap = 0;
let batches = 0;
const result = await run(
  defineProcessor({ name: "bench-source-memory", batchSize: 1000, ...source, processBatch() {} }),
  {
    store: new MemoryStore(),
    logger: false,
    onProgress: () => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      if (gc && (++batches === 1 || batches % 100 === 0)) {
        gc();
        peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
      }
    },
  },
);
await close();
if (result.status !== "completed") throw new Error(`${kind}: ${result.error?.message}`);
// maxRSS (KiB) is the kernel's peak, which also catches a spike between two samples.
peakRss = Math.max(peakRss, process.resourceUsage().maxRSS * 1024);
process.stdout.write(`${JSON.stringify({ peakRss, peakHeap, processed: result.processed })}\n`);
