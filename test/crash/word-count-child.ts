// Runs the null-prototype word count on a SQLite file, and SIGKILLs itself right after the
// commit of entity KILL_AFTER (0: never). Prints the result as one JSON line when it ends.
// A resuming child passes LEASE_SKEW_MS: its clock runs that far ahead, so that it takes the
// killed runner's lease over at once instead of waiting for it to expire. Usage:
//   node --import tsx word-count-child.ts DB CODEC KILL_AFTER LEASE_SKEW_MS
import { run, SqliteStore } from "../../src/index.js";
import { describeCounts, wordCount } from "../fixtures/word-count.js";

const [db, codec, killAfter, skew] = process.argv.slice(2);
const store = new SqliteStore(db as string);
const result = await run(wordCount(codec as "json" | "v8"), {
  store,
  logger: false,
  now: () => Date.now() + Number(skew),
  onProgress: (progress) => {
    if (Number(killAfter) > 0 && progress.completed >= Number(killAfter)) {
      process.kill(process.pid, "SIGKILL");
    }
  },
});
await store.close();
const report = {
  status: result.status,
  resumedFrom: result.resumedFrom,
  error: result.error?.message ?? null,
  ...describeCounts(result.state),
};
process.stdout.write(`${JSON.stringify(report)}\n`);
