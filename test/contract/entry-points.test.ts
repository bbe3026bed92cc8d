// One contract through every entry point: the same processors give the same statuses, error
// kinds, counts, failure ledger, ctx.tx effects and history rows through `run`,
// `runPartitions`, `waymark run` in a child process and the pg-boss worker (in code and as
// `waymark worker`), on SQLite and (with a server) PostgreSQL; a redrive (in code or `waymark redrive`) of the skipped entity
// after the poison is removed has the same effect everywhere.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type PgBoss from "pg-boss";
import { redrive } from "../../src/core/redrive.js";
import type { CheckpointStore } from "../../src/core/store/checkpoint-store.js";
import { enqueuePartitions, workPartitions } from "../../src/integrations/pg-boss.js";
import { waymark } from "../cli/cli.js";
import { NO_SERVER } from "../stores/postgres-factory.js";
import { ENTITIES, entryProcessors, POISONED } from "../support/entry-processors.js";
import { noBackoff, until } from "../support/time.js";
import { historyOf } from "./compare.js";
import { type Env, postgresEnv, sqliteEnv } from "./entry-envs.js";
import {
  type Entry,
  invoker,
  MODULE,
  type Outcome,
  PARTITION,
  SCENARIOS,
  type Scenario,
  workerChild,
} from "./entry-invokers.js";

type HistoryRow = Awaited<ReturnType<typeof historyOf>>[number];

/**
 * A suspended-then-continued history, without how many times it suspended (that depends on
 * how fast the machine is): the statuses in order, repeats collapsed; every row resuming
 * where the rows before it left off; the entities processed by all of them.
 */
function continuedShape(rows: HistoryRow[]) {
  let done = 0;
  let chained = true;
  for (const row of rows) {
    if (row.resumedFrom !== (done === 0 ? null : done)) chained = false;
    done += row.processed;
  }
  return {
    statuses: rows.map((r) => r.status).filter((s, i, all) => s !== all[i - 1]),
    reasons: [...new Set(rows.map((r) => r.reason))],
    errors: [...new Set(rows.map((r) => r.error))],
    chained,
    processed: done,
  };
}

async function ledgerOf(store: CheckpointStore, processor: string) {
  return (await store.listFailures({ processor })).map((f) => ({
    partition: f.partition,
    cursor: f.cursor,
    attempts: f.attempts,
  }));
}

async function effectsOf(env: Env, processor: string): Promise<Array<[string, number]>> {
  return [...(await env.effects())]
    .filter(([key]) => key.startsWith(`${processor}-`))
    .sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }));
}

/** Redrives the skipping processor's ledger in code or through `waymark redrive`. */
async function redriveThrough(entry: Entry, env: Env, poison: { on: boolean }) {
  poison.on = false;
  if (entry === "run" || entry === "runPartitions") {
    const { skipping } = entryProcessors({
      table: env.table,
      poisoned: () => poison.on,
      batchDelayMs: 0,
    });
    return withoutRunId(
      await redrive(skipping, {
        store: env.store,
        partition: PARTITION,
        logger: false,
        sleep: noBackoff,
      }),
    );
  }
  const cli = await waymark(
    ["redrive", "skipping", PARTITION, "--processors", MODULE, "--store", env.url, "--json"],
    { env: { EFFECTS_TABLE: env.table, POISON: "0" } },
  );
  assert.equal(cli.code, 0, `waymark redrive:\n${cli.stderr}`);
  return withoutRunId(JSON.parse(cli.stdout) as { runId: string });
}

/** A redrive's result without its id, which differs on every store; the id is in history. */
function withoutRunId<T extends { runId: string }>({ runId, ...result }: T) {
  assert.match(runId, /^[0-9a-f-]{36}$/);
  return result;
}

/** What one entry point did with every scenario on a fresh store. */
async function observe(entry: Entry, open: () => Promise<Env>) {
  const env = await open();
  const poison = { on: true };
  const child = entry === "worker" ? workerChild(env) : null;
  try {
    const invoke = invoker(entry, env, poison, child);
    const once = async (scenario: Scenario) => {
      if (scenario !== "budget") {
        return { outcome: await invoke(scenario, { budget: false, poisoned: true }), first: null };
      }
      const first = await invoke(scenario, { budget: true, poisoned: true });
      // pg-boss sends the continuation job itself; elsewhere the caller runs again.
      if (entry === "pg-boss" || entry === "worker") return { outcome: first, first: null };
      const last = await invoke(scenario, { budget: false, poisoned: true });
      return { outcome: last, first };
    };
    // Child processes start slowly and queues poll: there the scenarios run side by side,
    // each with its own processor (checkpoint, history, effects); in code one after another.
    const results =
      entry !== "run" && entry !== "runPartitions"
        ? await Promise.all(SCENARIOS.map(once))
        : await SCENARIOS.reduce<Promise<Array<Awaited<ReturnType<typeof once>>>>>(
            async (done, s) => [...(await done), await once(s)],
            Promise.resolve([]),
          );
    const seen: Record<string, unknown> = {};
    for (const [i, scenario] of SCENARIOS.entries()) {
      const { outcome, first } = results[i] as Awaited<ReturnType<typeof once>>;
      const history = await historyOf(env.store, scenario);
      if (first) {
        assert.equal(first.status, "suspended", `${entry}: the time budget suspends the run`);
        assert.equal(first.reason, "deadline", `${entry}: suspended for its deadline`);
      }
      seen[scenario] = {
        // How many entities the last run processed depends on where the budget cut.
        outcome:
          scenario === "budget"
            ? { status: outcome.status, error: outcome.error, completed: outcome.completed }
            : outcome,
        history: scenario === "budget" ? continuedShape(history) : history,
        ledger: await ledgerOf(env.store, scenario),
        effects: await effectsOf(env, scenario),
      };
    }
    const redriven = await redriveThrough(entry, env, poison);
    seen.redrive = {
      result: redriven,
      ledger: await ledgerOf(env.store, "skipping"),
      effects: await effectsOf(env, "skipping"),
      history: await historyOf(env.store, "skipping"),
    };
    return seen;
  } finally {
    await child?.stop();
    await env.cleanup();
  }
}

/** The legs; those of one `chain` run one after another, the chains side by side. */
const LEGS: Array<{ name: string; entry: Entry; chain: string; open: () => Promise<Env> }> = [
  ...(["run", "runPartitions", "cli"] as const).map((entry) => ({
    name: `${entry} on sqlite`,
    entry,
    chain: "sqlite",
    open: sqliteEnv,
  })),
  ...(NO_SERVER
    ? []
    : (["run", "runPartitions", "cli", "pg-boss", "worker"] as const).map((entry) => ({
        name: `${entry} on postgres`,
        entry,
        chain: entry === "pg-boss" || entry === "worker" ? "queue" : "postgres",
        open: postgresEnv,
      }))),
];

if (NO_SERVER) {
  describe("every entry point: the PostgreSQL, pg-boss and waymark worker legs", {
    skip: NO_SERVER,
  }, () => {});
}

const ALL_ONCE = Array.from({ length: ENTITIES }, (_, i) => i + 1);

/** The effects rows of `ids` written once each under `label`, as the comparison reads them. */
const writtenOnce = (label: string, ids: readonly number[] = ALL_ONCE) =>
  ids.map((n) => [`${label}-${n}`, 1]);

describe("one contract through every entry point", { timeout: 120_000 }, () => {
  const seen = new Map<string, Record<string, unknown>>();
  let firstLeg = "";
  before(async () => {
    const chains = [...new Set(LEGS.map((leg) => leg.chain))];
    await Promise.all(
      chains.map(async (chain) => {
        const legs = LEGS.filter((leg) => leg.chain === chain);
        for (const leg of legs) seen.set(leg.name, await observe(leg.entry, leg.open));
      }),
    );
    firstLeg = LEGS[0]?.name ?? "";
  });
  after(() => seen.clear());

  /** Asserts every leg saw the same for `key`, and returns what they saw. */
  function same<T>(key: string): T {
    const expected = seen.get(firstLeg)?.[key];
    for (const [leg, observed] of seen) {
      assert.deepEqual(observed[key], expected, `${key}: ${leg} differs from ${firstLeg}`);
    }
    return expected as T;
  }

  it("a plain partition: completed, every entity written once, one history row", () => {
    const plain = same<{ outcome: Outcome; effects: Array<[string, number]>; history: unknown }>(
      "plain",
    );
    assert.deepEqual(plain.outcome, {
      status: "completed",
      reason: null,
      error: null,
      processed: ENTITIES,
      completed: ENTITIES,
    });
    assert.deepEqual(plain.effects, writtenOnce("plain"));
  });

  it("a poisoned ctx.tx row with skip: the one bad entity is skipped, the run completes", () => {
    const skipping = same<{ outcome: Outcome; ledger: unknown; effects: unknown }>("skipping");
    assert.equal(skipping.outcome.status, "completed");
    assert.equal(skipping.outcome.processed, ENTITIES - 1);
    assert.deepEqual(
      (skipping.ledger as Array<{ cursor: number }>).map((f) => f.cursor),
      [POISONED],
    );
    assert.deepEqual(
      skipping.effects,
      writtenOnce(
        "skipping",
        ALL_ONCE.filter((n) => n !== POISONED),
      ),
    );
  });

  it("a poisoned ctx.tx row without skip, retried twice: failed, the same error kind", () => {
    const failing = same<{ outcome: Outcome; history: HistoryRow[]; effects: unknown }>("failing");
    assert.deepEqual(failing.outcome, {
      status: "failed",
      reason: null,
      error: "batch",
      processed: 15,
      completed: 15,
    });
    assert.deepEqual(
      failing.history.map((h) => [h.status, h.processed, h.error]),
      [["failed", 15, "batch"]],
    );
  });

  it("entities out of order: failed with ORDER_VIOLATION, nothing committed past them", () => {
    const unordered = same<{ outcome: Outcome; history: HistoryRow[]; effects: unknown }>(
      "unordered",
    );
    assert.deepEqual(unordered.outcome, {
      status: "failed",
      reason: null,
      error: "ORDER_VIOLATION",
      processed: 10,
      completed: 10,
    });
    assert.deepEqual(
      unordered.history.map((h) => [h.status, h.processed, h.error]),
      [["failed", 10, "OrderViolationError"]],
    );
    assert.deepEqual(unordered.effects, writtenOnce("unordered", ALL_ONCE.slice(0, 10)));
  });

  it("a time budget suspends the run; a continuation completes it", () => {
    const budget = same<{ outcome: unknown; history: unknown; effects: unknown }>("budget");
    assert.deepEqual(budget.outcome, { status: "completed", error: null, completed: ENTITIES });
    assert.deepEqual(budget.history, {
      statuses: ["suspended", "completed"],
      reasons: ["deadline", null],
      errors: [null],
      chained: true,
      processed: ENTITIES,
    });
    assert.deepEqual(budget.effects, writtenOnce("budget"));
  });

  it("a redrive of the skipped entity after the poison is removed: the same everywhere", () => {
    const redriven = same<{ result: unknown; ledger: unknown; effects: unknown }>("redrive");
    assert.deepEqual(redriven.result, {
      status: "completed",
      fixed: [POISONED],
      stillFailing: [],
      notFound: [],
    });
    assert.deepEqual(redriven.ledger, []);
    assert.deepEqual(redriven.effects, writtenOnce("skipping"));
  });
});

describe("the pg-boss worker on a queue with pg-boss's defaults", { skip: NO_SERVER }, () => {
  // A difference kept on purpose, and shown here: the worker throws a failed run to pg-boss
  // so that the queue's retry policy applies, and pg-boss 10 retries a job twice by default.
  // A run that `run` fails once (even with a permanent error such as ORDER_VIOLATION) is
  // then run, and recorded as failed, three times. Queues made without retries behave as
  // `run` does (the contract above).
  it("a failed run is run again by pg-boss's retries: three failed history rows", async () => {
    const env = await postgresEnv();
    try {
      const boss = await (env.boss as () => Promise<PgBoss>)();
      const { unordered } = entryProcessors({
        table: env.table,
        poisoned: () => true,
        batchDelayMs: 0,
      });
      await workPartitions(boss, unordered, {
        store: env.store,
        pollingIntervalSeconds: 0.5,
        logger: false,
      });
      await enqueuePartitions(boss, unordered, [PARTITION]);
      const failed = async () =>
        (await env.store.listRuns({ processor: "unordered" })).filter((r) => r.status === "failed")
          .length;
      await until("pg-boss to give up on the job", async () => (await failed()) >= 3, {
        timeoutMs: 20_000,
      });
      const history = await historyOf(env.store, "unordered");
      assert.deepEqual(
        history.map((h) => [h.status, h.resumedFrom, h.processed, h.error]),
        [
          ["failed", null, 10, "OrderViolationError"],
          ["failed", 10, 0, "OrderViolationError"],
          ["failed", 10, 0, "OrderViolationError"],
        ],
      );
    } finally {
      await env.cleanup();
    }
  });
});
