/**
 * The elastic mode of the torture script: rounds of one skewed backfill run by three
 * `waymark run` processes on one store (SQLite and PostgreSQL in turn), started at random
 * times, SIGKILLed at random moments (holders mid-batch, processes that asked for a split,
 * holders inside `split()` and right after a split committed) and started again until they
 * exit 0. After each round it checks that every entity's `ctx.tx` counter is exactly 1, that
 * every partition and every shard split off completed once, that history's processed counts
 * add up, and that the same command afterwards runs nothing and exits 0.
 */
import { setTimeout as delay } from "node:timers/promises";
import { waymark } from "../test/cli/cli.js";
import {
  arm,
  checkBackfill,
  ELASTIC_MODULE,
  type ElasticBackfill,
  fired,
  openElasticStore,
  pidOf,
  Slot,
  splitCount,
  units,
} from "../test/crash/elastic-harness.js";
import { seeded } from "../test/support/random.js";

/** What the elastic mode is asked. */
export interface ElasticTortureOptions {
  readonly rounds: number;
  readonly seed: number;
  readonly processes: number;
  readonly stores: readonly ("sqlite" | "postgres")[];
}

/** Runs the rounds, prints a summary, and resolves to the violations found. */
export async function tortureElastic(options: ElasticTortureOptions): Promise<string[]> {
  const random = seeded(options.seed);
  const pick = (from: number, to: number) => from + Math.floor(random() * (to - from + 1));
  const tally = { starts: 0, kills: 0, requesters: 0, hooks: 0, splits: 0, seconds: 0 };
  const violations: string[] = [];
  const started = Date.now();
  for (let round = 1; round <= options.rounds; round++) {
    const kind = options.stores[(round - 1) % options.stores.length] ?? "sqlite";
    const where = `round ${round} (${kind})`;
    const partitions = pick(3, 7);
    const sizes: Record<string, number> = { p1: pick(300, 1500) };
    for (let i = 2; i <= partitions; i++) sizes[`p${i}`] = pick(5, 80);
    const backfill: ElasticBackfill = {
      sizes,
      batchSize: pick(3, 10),
      delayMs: pick(2, 20),
      leaseTtlMs: pick(1500, 2500),
      concurrency: pick(1, 2),
    };
    const store = await openElasticStore(kind);
    const slots: Slot[] = [];
    try {
      for (const hook of ["in-split", "after-split"]) if (random() < 0.7) arm(store, hook);
      if (random() < 0.5) arm(store, `at-${pick(1, sizes.p1 as number)}`);
      for (let i = 0; i < options.processes; i++) {
        if (i > 0) await delay(pick(0, 1500));
        slots.push(new Slot(String.fromCharCode(65 + i), store, backfill));
      }
      const all = Promise.all(slots.map((s) => s.done));
      let over = false;
      void all.then(() => (over = true));
      // Chaos: now and then kill a process that asked for a split, or a holder, or anyone.
      for (let kills = 0; !over && kills < 8; ) {
        await Promise.race([delay(pick(100, 900)), all]);
        if (over) break;
        const rows = await units(store);
        const asked = rows.filter((r) => r.split_requested_by !== null);
        const held = rows.filter((r) => r.lease_owner !== null);
        const choice = random();
        let pid: number | null = null;
        if (choice < 0.3 && asked.length > 0) {
          pid = pidOf(asked[pick(0, asked.length - 1)]?.split_requested_by ?? null);
          if (slots.some((s) => s.pid === pid)) tally.requesters++;
        } else if (choice < 0.6 && held.length > 0) {
          pid = pidOf(held[pick(0, held.length - 1)]?.lease_owner ?? null);
        } else if (choice < 0.7) {
          pid = slots[pick(0, slots.length - 1)]?.pid ?? null;
        }
        const slot = slots.find((s) => pid !== null && s.pid === pid);
        if (slot?.kill()) kills++;
      }
      await all;
      tally.kills += slots.flatMap((s) => s.exits).filter((e) => e.signal === "SIGKILL").length;
      tally.starts += slots.reduce((n, s) => n + s.exits.length, 0);
      tally.hooks += fired(store).size;
      tally.splits += await splitCount(store);
      for (const slot of slots) {
        const last = slot.exits.at(-1);
        if (last?.code !== 0) {
          violations.push(`${where}: ${slot.name} ended ${last?.code}: ${last?.stderr.trim()}`);
        }
      }
      for (const v of await checkBackfill(store, backfill)) violations.push(`${where}: ${v}`);
      const again = await waymark([
        "run",
        ELASTIC_MODULE,
        "--partitions",
        Object.keys(sizes).join(","),
        "--store",
        store.url,
      ]);
      if (again.code !== 0 || !/nothing to do/.test(again.stdout)) {
        violations.push(`${where}: the same command afterwards: ${again.code} ${again.stdout}`);
      }
    } finally {
      for (const slot of slots) slot.stop();
      await Promise.all(slots.map((s) => s.done));
      await store.close();
    }
    process.stdout.write(`round ${round}/${options.rounds}: ${violations.length} violations\n`);
  }
  tally.seconds = Math.round((Date.now() - started) / 1000);
  console.table({
    rounds: options.rounds,
    stores: options.stores.join(", "),
    "process starts": tally.starts,
    "processes killed": tally.kills,
    "of them requesters": tally.requesters,
    "killed by a hook (in split(), after a split, mid-batch)": tally.hooks,
    "splits committed": tally.splits,
    violations: violations.length,
    seconds: tally.seconds,
  });
  return violations;
}
