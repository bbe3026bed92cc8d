/**
 * The long, randomised fault-injection run: the scenarios of test/stores/postgres-ambiguity
 * and test/stores/sqlite-faults, with random seeds and many more faults. PostgreSQL runs
 * through a proxy that cuts connections (needs WAYMARK_TEST_PG_URL); SQLite runs in a child
 * under `fiu-run` (needs Debian's fiu-utils). Prints what was injected and how each run
 * ended, and exits 1, listing the broken guarantees and the seed, if any was broken.
 *
 *   node --import tsx scripts/faults.ts [--rounds 5] [--seed 42] [--faults 1000] [--runs 200] [--quick]
 *
 * `--quick` (what CI runs) makes the defaults one round of 100 faults and 40 runs.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { NO_FIU } from "../test/support/fiu.js";
import { runFiuScenario } from "../test/support/fiu-scenario.js";
import { runProxyScenario } from "../test/support/proxy-scenario.js";
import { counts } from "../test/support/tally.js";
import { positive } from "./args.js";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    seed: { type: "string", default: String(Date.now() % 1_000_000) },
    faults: { type: "string" },
    runs: { type: "string" },
  },
});
values.rounds ??= values.quick ? "1" : "5";
values.faults ??= values.quick ? "100" : "1000";
values.runs ??= values.quick ? "40" : "200";
const rounds = positive("rounds", values.rounds);
const seed = positive("seed", values.seed, 0);
const minFaults = positive("faults", values.faults);
const runs = positive("runs", values.runs);
const url = process.env.WAYMARK_TEST_PG_URL ?? process.env.DATABASE_URL;

console.log(`faults: seed ${seed}, ${rounds} rounds`);
const violations: string[] = [];
let injected = 0;
for (let round = 0; round < rounds; round++) {
  const roundSeed = seed + round;
  if (url) {
    const s = await runProxyScenario({ url, seed: roundSeed, minFaults, workers: 6 });
    injected += s.faultCount;
    console.log(
      `postgres  seed ${roundSeed}: ${s.faultCount} faults, ${s.partitions} partitions; ` +
        `faults ${counts(s.faults)}; runs ${counts(s.outcomes)}`,
    );
    violations.push(...s.violations.map((v) => `postgres seed ${roundSeed}: ${v}`));
  }
  if (!NO_FIU) {
    const dir = mkdtempSync(join(tmpdir(), "waymark-faults-"));
    try {
      const s = await runFiuScenario({ dir, seed: roundSeed, runs });
      injected += s.faultCount;
      console.log(
        `sqlite    seed ${roundSeed}: ${s.faultCount} faults in ${s.runs} runs; ${counts(s.outcomes)}`,
      );
      violations.push(...s.violations.map((v) => `sqlite seed ${roundSeed}: ${v}`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
if (!url) console.log("postgres: skipped (set WAYMARK_TEST_PG_URL)");
if (NO_FIU) console.log(`sqlite: skipped (${NO_FIU})`);
console.log(`${injected} faults injected, ${violations.length} guarantees broken.`);
if (violations.length > 0) {
  for (const v of violations) console.log(`  ${v}`);
  console.log(`Replay with --seed ${seed}.`);
  process.exit(1);
}
