/**
 * The long, randomised crash test: many rounds of several processes sharing one SQLite file,
 * each SIGKILLed at random moments (from outside, mid-batch, right after a commit) until its
 * partition completes. After every kill and every completed partition it checks the
 * guarantees (nothing skipped, `ctx.tx` writes exactly once, at most one batch of external
 * effects replayed per kill, history rows), prints a summary, and exits 1 on any violation.
 *
 *   node --import tsx scripts/torture.ts [--rounds 20] [--seed 42] [--processes 3] [--quick]
 *
 * `--quick` (what CI runs) makes the defaults one round of 300 entities a partition.
 *
 * `--mode elastic` tortures a backfill instead (scripts/torture-elastic.ts): three processes
 * running one skewed backfill, split while they are killed, on SQLite and, with
 * WAYMARK_TEST_PG_URL, PostgreSQL. `--quick` makes it one round per store.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { parseArgs } from "node:util";
import {
  type CrashChildConfig,
  checkCompleted,
  checkKilledAttempt,
  type KillPoint,
  readEffects,
  seeded,
  snapshot,
  spawnCrashChild,
} from "../test/crash/harness.js";
import { PG_TEST_URL } from "../test/stores/postgres-factory.js";
import { positive } from "./args.js";
import { tortureElastic } from "./torture-elastic.js";

const { values } = parseArgs({
  options: {
    mode: { type: "string", default: "partitions" },
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    seed: { type: "string", default: String(Date.now() % 1_000_000) },
    processes: { type: "string", default: "3" },
    total: { type: "string" },
    batch: { type: "string", default: "50" },
  },
});
if (values.mode === "elastic") {
  const stores = PG_TEST_URL ? (["sqlite", "postgres"] as const) : (["sqlite"] as const);
  const seed = positive("seed", values.seed, 0);
  const rounds = positive("rounds", values.rounds ?? String(values.quick ? stores.length : 10));
  const processes = positive("processes", values.processes);
  console.log(`torture --mode elastic: ${rounds} rounds on ${stores.join(", ")}, seed ${seed}`);
  const violations = await tortureElastic({ rounds, seed, processes, stores });
  for (const v of violations.slice(0, 30)) console.error(`VIOLATION ${v}`);
  if (violations.length > 0) {
    console.error(`Replay with --mode elastic --seed ${seed}.`);
    process.exit(1);
  }
  console.log(`No violations (seed ${seed}).`);
  process.exit(0);
} else if (values.mode !== "partitions") {
  console.error(`--mode must be partitions or elastic, got ${JSON.stringify(values.mode)}.`);
  process.exit(2);
}
values.rounds ??= values.quick ? "1" : "20";
values.total ??= values.quick ? "300" : "600";
const rounds = positive("rounds", values.rounds);
const seed = positive("seed", values.seed, 0);
const processes = positive("processes", values.processes);
const total = positive("total", values.total);
const batchSize = positive("batch", values.batch);
const MAX_KILLS = 4;

const random = seeded(seed);
const pick = (from: number, to: number) => from + Math.floor(random() * (to - from + 1));
const tally = {
  attempts: 0,
  completed: 0,
  killedAfterCompleting: 0,
  kills: { outside: 0, entity: 0, commit: 0 },
  replayed: 0,
  busy: 0,
};
const violations: string[] = [];

/** Drives one partition through kills until a run completes, checking after every kill. */
async function drive(db: string, effects: string, round: number, partition: string) {
  const where = `round ${round} ${partition}`;
  let cursor = 0;
  let kills = 0;
  let replayed = 0;
  for (let attempt = 1; ; attempt++) {
    tally.attempts++;
    const tag = `a${attempt}`;
    const modes = ["outside", "entity", "commit", "none"] as const;
    const mode = kills >= MAX_KILLS ? "none" : (modes[pick(0, 3)] ?? "none");
    let killAt: KillPoint | null = null;
    if (mode === "entity") killAt = { kind: "entity", id: pick(cursor + 1, total) };
    if (mode === "commit") killAt = { kind: "commit", completed: pick(cursor + 1, total) };
    const config: CrashChildConfig = {
      db,
      effects,
      partition,
      total,
      batchSize,
      workMs: pick(0, 10),
      tag,
      killAt,
      busyDeadlineMs: 30_000,
    };
    const child = spawnCrashChild(config);
    if (mode === "outside") {
      await Promise.race([child.processing, child.exited]);
      await delay(pick(0, 400));
      child.process.kill("SIGKILL");
    }
    const exit = await child.exited;
    tally.busy += exit.report?.busyAttempts ?? 0;
    const after = await snapshot(db, partition);
    const killed = exit.signal === "SIGKILL";
    // A kill that lands after the run cleared its checkpoint finds the partition complete.
    const done =
      exit.report?.status === "completed" || (killed && !after.checkpoint && !!after.completedAt);
    if (done) {
      tally.completed++;
      if (killed) tally.killedAfterCompleting++;
      const lines = readEffects(effects).filter((e) => e.partition === partition);
      for (const v of checkCompleted(lines, after.txWrites, total, replayed)) {
        violations.push(`${where}: ${v}`);
      }
      // A killed run's row stays `running` until the next run takes its checkpoint over and
      // records it `failed` ("Abandoned: …") where it last committed: every kill leaves one such
      // row, and the partition one `completed` row (a run killed after completing wrote its).
      const rows = after.runs.filter((r) => r.status !== "busy");
      const abandoned = rows.filter(
        (r) => r.status === "failed" && r.error?.startsWith("Abandoned:"),
      ).length;
      const completed = rows.filter((r) => r.status === "completed").length;
      if (rows.length !== kills + 1 || abandoned !== kills || completed !== 1) {
        const statuses = rows.map((r) => r.status).join(", ");
        violations.push(
          `${where}: ${kills} kills left history ${statuses}; expected ${kills} failed ` +
            "(abandoned) and 1 completed",
        );
      }
      const resumedFrom = exit.report?.resumedFrom;
      if (resumedFrom !== undefined && resumedFrom !== (cursor === 0 ? null : cursor)) {
        violations.push(`${where}: resumed from ${resumedFrom}, cursor was ${cursor}`);
      }
      return;
    }
    if (!killed) {
      violations.push(`${where} ${tag}: ended ${exit.code}/${exit.signal}: ${exit.stderr.trim()}`);
      return;
    }
    kills++;
    if (mode === "none") violations.push(`${where} ${tag}: killed without being asked to`);
    else tally.kills[mode]++;
    const committed = (after.checkpoint?.cursor as number | null) ?? 0;
    if (committed < cursor) violations.push(`${where}: cursor went back ${cursor} → ${committed}`);
    cursor = committed;
    const lines = readEffects(effects).filter((e) => e.partition === partition);
    const check = checkKilledAttempt(lines, tag, committed, batchSize);
    for (const v of check.violations) violations.push(`${where}: ${v}`);
    replayed += check.replayed;
    tally.replayed += check.replayed;
  }
}

const started = Date.now();
console.log(
  `torture: ${rounds} rounds, ${processes} processes per SQLite file, ${total} entities ` +
    `in batches of ${batchSize}, seed ${seed}`,
);
for (let round = 1; round <= rounds; round++) {
  const dir = mkdtempSync(join(tmpdir(), "waymark-torture-"));
  try {
    const db = join(dir, "waymark.db");
    const effects = join(dir, "effects.log");
    const partitions = Array.from({ length: processes }, (_, i) => `p${i + 1}`);
    await Promise.all(partitions.map((partition) => drive(db, effects, round, partition)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`round ${round}/${rounds}: ${violations.length} violations so far\n`);
}

const { kills } = tally;
console.table({
  rounds,
  "partitions completed": `${tally.completed} of ${rounds * processes}`,
  "runs (child processes)": tally.attempts,
  "killed from outside": kills.outside,
  "killed mid-batch": kills.entity,
  "killed after a commit": kills.commit,
  "killed after completing": tally.killedAfterCompleting,
  "external effects replayed": tally.replayed,
  "busy retries (dead lease)": tally.busy,
  violations: violations.length,
  seconds: Math.round((Date.now() - started) / 1000),
});
if (violations.length > 0) {
  for (const v of violations.slice(0, 30)) console.error(`VIOLATION ${v}`);
  console.error(`Replay with --seed ${seed}.`);
  process.exit(1);
}
console.log(`No violations (seed ${seed}).`);
