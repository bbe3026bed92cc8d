import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  type CheckpointStore,
  defineProcessor,
  fromRange,
  openStore,
  runPartitions,
  WaymarkError,
} from "../../src/index.js";
import { waymark } from "./cli.js";

// A processor whose static split changes between runs: the case the SHARD_DRIFT error tells
// its user to recover from with `waymark reset PROCESSOR PARTITION`.
let cuts = [100];
/** Ids processed by the runs since the last `seen.clear()`. */
const seen = new Set<number>();
let failFrom: number | null = 41;

const drifting = defineProcessor({
  name: "drifting",
  ...fromRange({ from: 1, to: 300 }),
  batchSize: 10,
  retry: false,
  shards: () =>
    [...cuts, null].map((to, i) => ({
      id: i,
      ...(i === 0 ? {} : { from: cuts[i - 1] as number }),
      ...(to === null ? {} : { to }),
    })),
  async processBatch(batch) {
    if (failFrom !== null && batch.some((id) => id >= (failFrom as number) && id <= 100)) {
      throw new Error("interrupted");
    }
    for (const id of batch) seen.add(id);
  },
});

describe("waymark reset PROCESSOR PARTITION, every shard of it", () => {
  let dir: string;
  let url: string;
  let store: CheckpointStore;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "waymark-reset-partition-"));
    url = `sqlite:${join(dir, "waymark.db")}`;
    store = await openStore(url);
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const backfill = () =>
    runPartitions(drifting, { store, partitions: ["P"], logger: false, pollIntervalMs: 10 });

  it("is what a changed split asks for, and afterwards every entity runs again", async () => {
    // Shard 0 stops at 40 of (..100]; shard 1, (100..], completes.
    const first = await backfill();
    assert.deepEqual(
      first.partitions.map((o) => [o.shard, o.status]),
      [
        ["0", "failed"],
        ["1", "completed"],
      ],
    );
    // The split moves: shard 0 is now (..30], and its checkpoint covers (..100].
    cuts = [30, 200];
    failFrom = null;
    const drifted = await backfill();
    const zero = drifted.partitions.find((o) => o.shard === "0");
    const error = zero?.result?.error;
    assert.ok(error instanceof WaymarkError && error.code === "SHARD_DRIFT", String(error));
    const advice = /waymark reset drifting P\b/.exec(error.message)?.[0];
    assert.ok(advice, error.message);

    const reset = await waymark([...advice.split(" ").slice(1), "--yes", "--store", url]);
    assert.equal(reset.code, 0, reset.stderr);
    assert.equal(
      reset.stdout,
      "Reset drifting/P: deleted 1 checkpoint (shard 0 at 40/100) and forgot that shard 1, " +
        "shard 2 completed; the next run starts the partition over and redoes 40 committed " +
        "entities and what had completed.\n",
    );
    assert.deepEqual(await store.listCheckpoints(), []);

    seen.clear();
    const again = await backfill();
    assert.equal(again.status, "completed");
    const missing = Array.from({ length: 300 }, (_, i) => i + 1).filter((id) => !seen.has(id));
    assert.deepEqual(missing, [], "every entity of the partition ran after the reset");
  });

  it("says in --json what it deleted, and that nothing is left the second time", async () => {
    failFrom = 41;
    await backfill();
    const json = await waymark(["reset", "drifting", "P", "--yes", "--json", "--store", url]);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), {
      processor: "drifting",
      partition: "P",
      outcome: "deleted",
      checkpoints: [{ shard: "1", completed: 10, total: 170 }],
      completions: ["0", "1", "2"],
    });
    const nothing = await waymark(["reset", "drifting", "P", "--yes", "--store", url]);
    assert.equal(nothing.code, 1);
    assert.match(nothing.stderr, /No checkpoint for drifting\/P: nothing to reset\./);
  });
});
