import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import {
  defineProcessor,
  type PartitionsResult,
  runPartitions,
  WaymarkError,
} from "../../src/index.js";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import { NO_SERVER, openTestPool, type TestPool } from "../stores/postgres-factory.js";

// In an ICU collation "apple" < "banana" < "cherry" < "Melon" < "Zebra"; in code-unit order,
// which cursors compare in, "Melon" < "Zebra" < "apple" < "banana" < "cherry".
const NAMES = ["apple", "Melon", "banana", "Zebra", "cherry"];
// Cut at "b": by the ids' order, `lo` holds Melon, Zebra and apple, `hi` banana and cherry.
const SHARDS = [
  { id: "lo", to: "b" },
  { id: "hi", from: "b" },
];

// A source whose order disagrees with the ids': the run stops with ORDER_VIOLATION, and the way
// on that its error gives (fix the order, start over) leaves no entity unprocessed.
describe("string cursors over a source in an ICU collation", { skip: NO_SERVER }, () => {
  let test: TestPool;
  let store: PostgresStore;
  let table: string;
  beforeEach(async () => {
    test = openTestPool();
    store = await PostgresStore.open({ pool: test.pool, schema: test.schema });
    table = `${test.schema}.players`;
    await test.pool.query(`CREATE TABLE ${table} (name TEXT PRIMARY KEY)`);
    await test.pool.query(`INSERT INTO ${table} SELECT unnest($1::text[])`, [NAMES]);
    const icu = await test.pool.query(`SELECT 1 FROM pg_collation WHERE collname = 'en-x-icu'`);
    assert.equal(icu.rowCount, 1, "the server has ICU collations");
  });
  afterEach(async () => {
    await store.close();
    await test.dispose();
  });

  const processed: string[] = [];

  /**
   * A hand-written source as a user might write it, ordered (and, with `bounded`, cut at a
   * shard's `to`) in `collation`: the ICU one, then "C" once the user fixed it.
   */
  function players(collation: string, options: { sharded: boolean; bounded: boolean }) {
    return defineProcessor<string>({
      name: "players",
      batchSize: 2,
      retry: false,
      ...(options.sharded ? { shards: () => SHARDS } : {}),
      async entities({ after, shard }) {
        const to = options.bounded ? (shard?.to ?? null) : null;
        const { rows } = await test.pool.query<{ name: string }>(
          `SELECT name FROM ${table}
           WHERE ($1::text IS NULL OR name > $1 COLLATE "${collation}")
             AND ($2::text IS NULL OR name <= $2 COLLATE "${collation}")
           ORDER BY name COLLATE "${collation}"`,
          [after, to],
        );
        return rows.map((r) => r.name);
      },
      id: (name) => name,
      async processBatch(batch) {
        processed.push(...batch);
      },
    });
  }

  const run = (processor: ReturnType<typeof players>) =>
    runPartitions(processor, { store, partitions: ["P"], logger: false });
  /** What `waymark reset players P` does: every shard of the partition starts over. */
  const resetPartition = () => store.resetPartition("players", "P", Date.now());

  /** The ORDER_VIOLATION a run stopped with. */
  function violation(result: PartitionsResult): WaymarkError {
    assert.equal(result.status, "failed");
    const error = result.partitions.map((o) => o.result?.error).find((e) => e !== undefined);
    assert.ok(error instanceof WaymarkError && error.code === "ORDER_VIOLATION", String(error));
    return error;
  }

  it("no shards: stops again when run again, and starting over after the fix misses nothing", async () => {
    processed.length = 0;
    const icu = players("en-x-icu", { sharded: false, bounded: false });
    violation(await run(icu));
    // Resumed after what it committed ("banana"), it stops at the same entity: a resume must
    // not jump over the ids no check has seen.
    const again = violation(await run(icu));
    assert.match(again.message, /"Melon" \(string\) arrived after "cherry"/);
    assert.match(
      again.message,
      /Once it is fixed, start the partition over \(waymark reset players P, every shard of it\), then run again: what was committed was read in that order/,
    );
    await resetPartition();
    const fixed = await run(players("C", { sharded: false, bounded: false }));
    assert.equal(fixed.status, "completed");
    assert.deepEqual([...new Set(processed)].sort(), [...NAMES].sort(), "every name processed");
  });

  for (const bounded of [false, true]) {
    it(`shards, the source ${bounded ? "" : "not "}cut at their bounds: stopped, then redone whole`, async () => {
      processed.length = 0;
      const result = await run(players("en-x-icu", { sharded: true, bounded }));
      const error = violation(result);
      assert.match(error.message, /players\/P shard hi: entity id "Melon"/);
      assert.match(
        error.message,
        /Once it is fixed, start the partition over \(waymark reset players P, every shard of it\), then run again: its ranges were read in that order/,
      );
      // `lo` completed without Melon and Zebra, which its range holds by the ids' order: the
      // error says to redo the partition, and that is what processes them.
      assert.ok(!processed.includes("Melon") && !processed.includes("Zebra"));
      await resetPartition();
      const redone = await run(players("C", { sharded: true, bounded }));
      assert.equal(redone.status, "completed");
      assert.deepEqual([...new Set(processed)].sort(), [...NAMES].sort(), "every name processed");
    });
  }
});
