import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { type CliResult, startWaymark, waymark } from "../cli/cli.js";
import { until } from "../support/time.js";
import { arm, ELASTIC_MODULE, type ElasticStore, openElasticStore } from "./elastic-harness.js";

const SIZE = 300;
// Listed with `a` last, so that `b` and `c` complete before `a` is killed at 40.
const BEFORE = [
  { id: "b", from: 100, to: 200 },
  { id: "c", from: 200 },
  { id: "a", to: 100 },
];
// The same shards, their cuts moved to 30 and 200.
const AFTER = [
  { id: "b", from: 30, to: 200 },
  { id: "c", from: 200 },
  { id: "a", to: 30 },
];

// Static shards whose cut points change between runs of one backfill, on a real process
// SIGKILLed mid-shard: the case, where entities 41-100 used to be skipped in silence.
describe("static shards whose cuts move between runs", { timeout: 60_000 }, () => {
  let store: ElasticStore;
  beforeEach(async () => {
    store = await openElasticStore("sqlite");
    // `b` and `c` complete, `a` commits 1..30 and dies in the batch that ends at 40.
    arm(store, "at-40");
    const first = startWaymark(args(), { env: env(BEFORE) });
    const killed = await first.exited;
    assert.equal(first.child.signalCode, "SIGKILL", killed.stderr);
    // The next run finds `a` free: the dead process's lease has expired.
    await until("the killed run's lease to expire", async () => {
      const [row] = await store.rows<{ until: number }>(
        "SELECT lease_expires_at AS until FROM checkpoints WHERE shard = 'a'",
      );
      return Number(row?.until) < Date.now();
    });
    assert.deepEqual(
      await counted(),
      { once: 230, more: 0 },
      "b and c completed, a committed 1..30",
    );
  });
  afterEach(() => store.close());

  const args = (...extra: string[]) => [
    "run",
    ELASTIC_MODULE,
    "--partition",
    "P",
    "--store",
    store.url,
    ...extra,
  ];
  const env = (shards: unknown) => ({
    ELASTIC_SIZE: String(SIZE),
    BATCH_SIZE: "10",
    LEASE_TTL_MS: "1000",
    SHARDS: JSON.stringify(shards),
    COUNTS_TABLE: store.counts,
    KILL_HOOKS: `${store.dir}/hooks`,
  });
  const run = (shards: unknown, ...extra: string[]): Promise<CliResult> =>
    waymark(args(...extra), { env: env(shards) });

  /** How many entities were counted once, and how many more than once; none is missing. */
  async function counted(): Promise<{ once: number; more: number }> {
    const rows = await store.rows<{ n: number }>("SELECT n FROM counts");
    return {
      once: rows.filter((r) => Number(r.n) === 1).length,
      more: rows.filter((r) => Number(r.n) > 1).length,
    };
  }

  /** Runs with the moved cuts: every shard stops with SHARD_DRIFT, nothing counted changes. */
  async function runMoved(): Promise<void> {
    const moved = await run(AFTER);
    assert.equal(moved.code, 1, moved.stderr);
    assert.match(moved.stdout, /^elastic: 3 shards of 1 partition: 1 already completed, 2 failed/);
    assert.match(
      moved.stdout,
      /elastic\/P shard b was completed under another split of partition "P": its completion covered the ids after 100 up to 200, while shards\(\) now gives it the ids after 30 up to 200/,
    );
    assert.match(moved.stdout, /elastic\/P shard a was begun under another split/);
    assert.match(moved.stdout, /Restore the previous shards\(\) and run again/);
    assert.match(moved.stdout, /waymark reset elastic P \(every shard of it\), then run again/);
    assert.match(moved.stdout, /The static split of P shard b, P shard a changed/);
    assert.doesNotMatch(moved.stdout, /Run the same command again/);
    assert.deepEqual(await counted(), { once: 230, more: 0 }, "nothing processed, nothing lost");
  }

  it("stops every shard with SHARD_DRIFT; restoring the cuts completes it exactly once", async () => {
    await runMoved();
    const restored = await run(BEFORE);
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(await counted(), { once: SIZE, more: 0 }, "31..100 processed, once");
  });

  it("redone under the new cuts as the message says, no entity is left out", async () => {
    await runMoved();
    const reset = await waymark(["reset", "elastic", "P", "--yes"], {
      env: { WAYMARK_STORE: store.url },
    });
    assert.equal(reset.code, 0, reset.stderr);
    const redone = await run(AFTER);
    assert.equal(redone.code, 0, redone.stderr);
    // The redo processes the partition again under the new split: what was processed before
    // (1..30 and 101..300) twice, 31..100 for the first time; nothing is left out.
    assert.deepEqual(await counted(), { once: 70, more: 230 });
  });
});
