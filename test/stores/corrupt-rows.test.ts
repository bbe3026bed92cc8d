// A checkpoint row edited from outside into values no run could have written is refused when
// it is read: CORRUPT_CHECKPOINT naming the field and the value, and the run writes nothing
// (no ctx.tx write, no change to the row, not even its lease). One test per corrupt field, on
// SQLite (edited through its own connection, with SQLite's loose typing) and on PostgreSQL
// (where the column types allow the corruption).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { CorruptCheckpointError, WaymarkError } from "../../src/core/errors.js";
import { defineProcessor } from "../../src/core/processor.js";
import { run } from "../../src/core/run.js";
import type { CheckpointStore } from "../../src/core/store/checkpoint-store.js";
import { resetCheckpoint } from "../../src/reports/actions.js";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import type { PgTx } from "../../src/stores/postgres/postgres-tx.js";
import { SqliteStore } from "../../src/stores/sqlite/sqlite-store.js";
import type { SqliteTx } from "../../src/stores/sqlite/sqlite-tx.js";
import { noBackoff } from "../support/time.js";
import { NO_SERVER, openTestPool } from "./postgres-factory.js";

const IDS = Array.from({ length: 20 }, (_, i) => i + 1);
const dir = mkdtempSync(join(tmpdir(), "waymark-corrupt-rows-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** One store with an append-only effects table (no unique key: a rewrite shows as a double). */
interface Bench {
  store: CheckpointStore;
  /** Appends one id through the batch's `ctx.tx`. */
  append(tx: unknown, id: number): void | Promise<void>;
  /** Every id appended, in order. */
  effects(): Promise<number[]>;
  /** Runs `UPDATE checkpoints SET <assignment>` from outside the store. */
  corrupt(assignment: string): Promise<void>;
  /** The checkpoint row as the database holds it. */
  raw(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

let opened = 0;

async function sqliteBench(): Promise<Bench> {
  const path = join(dir, `store-${++opened}.db`);
  const store = new SqliteStore(path);
  store.database.exec("CREATE TABLE effects (id INTEGER NOT NULL)");
  const outside = new Database(path);
  return {
    store,
    append: (tx, id) => (tx as SqliteTx).run("INSERT INTO effects (id) VALUES (?)", id),
    effects: async () =>
      (outside.prepare("SELECT id FROM effects ORDER BY rowid").all() as { id: number }[]).map(
        (r) => r.id,
      ),
    corrupt: async (assignment) => {
      outside.exec(`UPDATE checkpoints SET ${assignment}`);
    },
    raw: async () => outside.prepare("SELECT * FROM checkpoints").get() as Record<string, unknown>,
    close: async () => {
      outside.close();
      await store.close();
    },
  };
}

async function postgresBench(): Promise<Bench> {
  const test = openTestPool();
  const store = await PostgresStore.open({ pool: test.pool, schema: test.schema, clock: "runner" });
  const s = test.schema;
  await test.pool.query(`CREATE TABLE ${s}.effects (seq SERIAL, id INTEGER NOT NULL)`);
  return {
    store,
    append: async (tx, id) => {
      await (tx as PgTx).query(`INSERT INTO ${s}.effects (id) VALUES ($1)`, [id]);
    },
    effects: async () =>
      (await test.pool.query(`SELECT id FROM ${s}.effects ORDER BY seq`)).rows.map((r) =>
        Number((r as { id: number }).id),
      ),
    corrupt: async (assignment) => {
      await test.pool.query(`UPDATE ${s}.checkpoints SET ${assignment}`);
    },
    raw: async () =>
      (await test.pool.query(`SELECT * FROM ${s}.checkpoints`)).rows[0] as Record<string, unknown>,
    close: async () => {
      await store.close();
      await test.dispose();
    },
  };
}

/** Twenty ids in batches of five; with `failAt`, the batch holding that id fails for good. */
function processor(bench: Bench, failAt?: number) {
  return defineProcessor<number, { seen: number }>({
    name: "ids",
    batchSize: 5,
    initialState: () => ({ seen: 0 }),
    entities: ({ after }) => IDS.filter((n) => after === null || n > (after as number)),
    count: () => IDS.length,
    id: (n) => n,
    retry: { attempts: 1 },
    async processBatch(batch, ctx) {
      if (failAt !== undefined && batch.includes(failAt)) throw new Error(`id ${failAt} fails`);
      for (const n of batch) await bench.append(ctx.tx, n);
      ctx.state.seen += batch.length;
    },
  });
}

/**
 * Leaves a checkpoint at 10/20 (ids 1-10 written), corrupts it with `assignment`, and runs the
 * partition again: the run must fail with CORRUPT_CHECKPOINT naming `field` and `value`, with
 * no id written again and the row exactly as the edit left it.
 */
async function refused(
  open: () => Promise<Bench>,
  assignment: string,
  field: string,
  value: RegExp,
  lease: "untouched" | "taken" = "untouched",
): Promise<void> {
  const bench = await open();
  try {
    const first = await run(processor(bench, 11), {
      store: bench.store,
      logger: false,
      sleep: noBackoff,
    });
    assert.equal(first.status, "failed", "the first run stops at id 11");
    assert.deepEqual(await bench.effects(), IDS.slice(0, 10), "ids 1-10 written once");
    await bench.corrupt(assignment);
    const edited = await bench.raw();

    const second = await run(processor(bench), {
      store: bench.store,
      logger: false,
      sleep: noBackoff,
    }).then(
      (result) => result,
      (error: unknown) => error,
    );
    const error =
      second instanceof Error
        ? second
        : (second as { status: string; error?: unknown }).status === "failed"
          ? (second as { error?: unknown }).error
          : undefined;
    assert.ok(
      error instanceof WaymarkError,
      `expected a failed run with CORRUPT_CHECKPOINT, got ${JSON.stringify(second)}`,
    );
    assert.equal(error.code, "CORRUPT_CHECKPOINT", error.message);
    assert.ok(error.message.includes(field), `the message names ${field}: ${error.message}`);
    assert.match(error.message, value, "the message names the value");
    assert.match(error.message, /waymark reset ids default/, "the message says how to recover");
    if (error instanceof CorruptCheckpointError) assert.equal(error.field, field);

    assert.deepEqual(await bench.effects(), IDS.slice(0, 10), "nothing written again");
    const now = await bench.raw();
    if (lease === "taken") {
      // State is read with the processor's codec, once the lease is held: the lease is taken
      // and released, the checkpoint itself stays as it was.
      const { run_id, fence, attempt, ...data } = now;
      const { run_id: _r, fence: _f, attempt: _a, ...before } = edited;
      assert.deepEqual(data, before, "the checkpoint is left as it was found");
      assert.equal(now.lease_owner, null, "the lease is released");
    } else {
      assert.deepEqual(now, edited, "the row is left as it was found, lease and all");
      // The reports set the row apart; a reset deletes it without reading it.
      const scan = await bench.store.scanCheckpoints();
      assert.deepEqual(
        scan.corrupt.map((c) => [c.partition, c.field]),
        [["default", field]],
      );
      assert.equal(scan.checkpoints.length, 0);
    }
    const key = { processor: "ids", partition: "default", shard: "" };
    assert.equal(await resetCheckpoint(bench.store, key, Date.now()), "deleted");
    assert.equal(await bench.raw(), undefined, "reset deleted the row");
  } finally {
    await bench.close();
  }
}

const STORES: Array<[string, () => Promise<Bench>, string | false]> = [
  ["SQLite", sqliteBench, false],
  ["PostgreSQL", postgresBench, NO_SERVER],
];

for (const [name, open, skip] of STORES) {
  describe(`corrupt checkpoint rows on ${name}`, { timeout: 60_000, skip }, () => {
    it("a cursor that is not JSON", () =>
      refused(open, "cursor = 'garbage{'", "cursor", /"garbage\{" \(string\)/));

    it("a cursor that is JSON but neither a string nor a number", () =>
      refused(open, `cursor = '{"id":10}'`, "cursor", /\{\\"id\\":10\}/));

    it("no cursor although entities are recorded as completed", () =>
      refused(open, "cursor = NULL", "cursor", /null; there is no cursor, yet 10 entities/));

    it("a negative completed count", () =>
      refused(open, "completed = -5", "completed", /-5 \(number\)|"-5" \(string\)/));

    it("a negative total", () => refused(open, "total = -1", "total", /-1 \(number\)|"-1"/));

    it("a processor version below 1", () =>
      refused(open, "processor_version = 0", "processor_version", /is 0 \(number\)/));

    it("a negative fence", () => refused(open, "fence = -3", "fence", /-3/));

    it("state its codec cannot read", () =>
      refused(open, "state = '{not json'", "state", /json codec cannot read/, "taken"));
  });
}

describe("corrupt checkpoint rows on SQLite: values of the wrong type", { timeout: 60_000 }, () => {
  it("completed as text", () =>
    refused(sqliteBench, "completed = 'abc'", "completed", /"abc" \(string\)/));

  it("completed fractional", () =>
    refused(sqliteBench, "completed = 2.5", "completed", /2\.5 \(number\)/));

  it("total as text", () => refused(sqliteBench, "total = 'lots'", "total", /"lots" \(string\)/));

  it("a version as text", () =>
    refused(sqliteBench, "processor_version = 'v2'", "processor_version", /"v2" \(string\)/));

  it("state as a blob", () => refused(sqliteBench, "state = X'00ff'", "state", /an object/));

  it("a lease expiry as text", () =>
    refused(sqliteBench, "lease_expires_at = 'soon'", "lease_expires_at", /"soon" \(string\)/));

  it("a commit time as text", () =>
    refused(sqliteBench, "updated_at = 'yesterday'", "updated_at", /"yesterday" \(string\)/));
});
