// Summarises the 450 players of one game date into `player_summaries`, resuming if a run
// died. `--fail-once 320` makes the first run fail at player 320; run again to resume.
//
//   node --import tsx examples/player-summaries/main.ts --store .waymark/summaries.db --date 2024-01-15
import { parseArgs } from "node:util";
import { run, SqliteStore } from "../../src/index.js";
import { SUMMARIES_TABLE, summariesProcessor } from "./processor.js";

const { values } = parseArgs({
  options: {
    store: { type: "string", default: ".waymark/summaries.db" },
    date: { type: "string", default: "2024-01-15" },
    "fail-once": { type: "string" },
  },
});
const store = new SqliteStore(values.store);
store.database.exec(SUMMARIES_TABLE);
const failOnce = values["fail-once"] ? Number(values["fail-once"]) : undefined;
const processor = summariesProcessor({ failOnce });
let result = await run(processor, { store, partition: values.date });
if (result.status === "failed") result = await run(processor, { store, partition: values.date });
const { rows } = store.database
  .prepare("SELECT COUNT(*) AS rows FROM player_summaries WHERE game_date = ?")
  .get(values.date) as { rows: number };
console.log(`${result.status}: ${rows} summaries for ${values.date}`);
await store.close();
process.exitCode = result.status === "completed" ? 0 : 1;
