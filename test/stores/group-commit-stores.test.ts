// Group commit inside the SQL stores: commits of several runs ready at the same moment are
// written together, and each keeps its own outcome: a fenced commit, or one whose ctx.tx
// statement fails, fails only its own run while the others of its group land.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { FencedError } from "../../src/core/errors.js";
import { defineProcessor } from "../../src/core/processor.js";
import { runPartitions } from "../../src/core/run-partitions.js";
import type {
  BatchScope,
  CheckpointWrite,
  LeaseHandle,
} from "../../src/core/store/checkpoint-store.js";
import type { RunStore } from "../../src/core/store/run-store.js";
import type { GroupCommitStats } from "../../src/stores/group-commit.js";
import { parsePostgresUrl } from "../../src/stores/postgres/postgres-options.js";
import type { PgPool, PgQueryConfig } from "../../src/stores/postgres/postgres-pool.js";
import { PostgresStore } from "../../src/stores/postgres/postgres-store.js";
import { SqliteStore } from "../../src/stores/sqlite/sqlite-store.js";
import { leaseRun } from "../support/run-record.js";
import { NO_SERVER, openTestPool, type TestPool } from "./postgres-factory.js";
import { type OpenedStore, STORE_FACTORIES } from "./stores.js";

const T0 = 1_700_000_000_000;
const TTL = 30_000;

function write(cursor: number): CheckpointWrite {
  return {
    kind: "batch",
    processorVersion: 1,
    cursor,
    completed: cursor,
    total: 10,
    state: null,
    stateCodec: "json",
    fingerprint: null,
    leaseTtlMs: TTL,
    now: T0 + 1000,
  };
}

/** `owner` takes the lease of `partition` at `now`. */
async function take(
  store: Pick<RunStore, "acquire">,
  partition: string,
  owner: string,
  now = T0,
): Promise<LeaseHandle> {
  const result = await store.acquire({
    processor: "grouped",
    partition,
    shard: "",
    owner,
    runId: `run-${owner}-${partition}`,
    leaseTtlMs: TTL,
    now,
  });
  assert.ok(result.acquired, `${owner} takes the lease of ${partition}`);
  return result.lease;
}

/** Commits one batch of each scope in the same turn; only the second (b) may fail. */
async function commitTogether(scopes: BatchScope<unknown>[]) {
  const outcomes = await Promise.allSettled(scopes.map((scope, i) => scope.commit(write(i + 1))));
  assert.deepEqual(
    outcomes.map((o) => o.status),
    ["fulfilled", "rejected", "fulfilled"],
    "only b's commit fails",
  );
  return outcomes;
}

function statsOf(opened: OpenedStore): GroupCommitStats {
  return (opened.store as unknown as { groupCommit: GroupCommitStats }).groupCommit;
}

for (const factory of STORE_FACTORIES.filter((f) => f.name !== "memory")) {
  describe(`group commit on ${factory.name}`, () => {
    let opened: OpenedStore;
    beforeEach(async () => {
      opened = await factory.open();
    });
    afterEach(async () => {
      await opened.cleanup();
    });

    const acquire = (partition: string, owner: string, now = T0) =>
      take(opened.store, partition, owner, now);

    it("a fenced commit inside a group fails only its own run; the others land", async () => {
      const a = await acquire("a", "first");
      const stale = await acquire("b", "first");
      const c = await acquire("c", "first");
      // Another runner takes b over once its lease expired: the first one's commit is fenced.
      await acquire("b", "second", T0 + TTL + 1);
      const scopes = [a, stale, c].map((lease) => opened.store.openBatch(lease));
      const outcomes = await commitTogether(scopes);
      const reason = (outcomes[1] as PromiseRejectedResult).reason;
      assert.ok(reason instanceof FencedError, `b is fenced, got ${String(reason)}`);
      assert.deepEqual(statsOf(opened), { enabled: true, groups: 1, commits: 3, largest: 3 });
      const cursors = await Promise.all(
        ["a", "b", "c"].map(async (partition) => {
          const back = await opened.store.readBack({ processor: "grouped", partition, shard: "" });
          return back.checkpoint?.cursor ?? null;
        }),
      );
      assert.deepEqual(cursors, [1, null, 3], "a and c landed, b kept the new holder's");
    });

    it("runs sharing the store commit in groups, and every entity is committed", async () => {
      const partitions = Array.from({ length: 6 }, (_, i) => `p${i}`);
      const done: string[] = [];
      const processor = defineProcessor<number>({
        name: "grouped-run",
        batchSize: 1,
        retry: false,
        entities: ({ after }) =>
          [1, 2, 3, 4, 5].filter((n) => after === null || n > (after as number)),
        id: (n) => n,
        processBatch(batch, ctx) {
          for (const n of batch) done.push(`${ctx.partition} ${n}`);
        },
      });
      const result = await runPartitions(processor, {
        store: opened.store,
        partitions,
        concurrency: partitions.length,
        logger: false,
      });
      assert.equal(result.status, "completed", JSON.stringify(result.counts));
      assert.equal(done.length, 30, "every entity once");
      const stats = statsOf(opened);
      assert.ok(stats.largest > 1, `commits went together: ${JSON.stringify(stats)}`);
    });
  });
}

describe("group commit on sqlite: ctx.tx and the option", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-group-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function open(options: { groupCommit?: boolean } = {}): SqliteStore {
    const store = new SqliteStore(join(dir, "waymark.db"), options);
    store.database.exec(
      "CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY CHECK (key NOT LIKE 'poison%'))",
    );
    return store;
  }

  async function leases(store: SqliteStore, partitions: string[]): Promise<LeaseHandle[]> {
    const held: LeaseHandle[] = [];
    for (const partition of partitions) held.push(await take(store, partition, "runner"));
    return held;
  }

  it("a failing staged ctx.tx statement undoes only its own commit in the group", async () => {
    const store = open();
    try {
      const keys = ["a", "poison-b", "c"];
      const scopes = (await leases(store, ["a", "b", "c"])).map((l) => store.openBatch(l));
      scopes.forEach((scope, i) => {
        scope.tx.run("INSERT INTO effects (key) VALUES (?)", keys[i]);
      });
      const outcomes = await commitTogether(scopes);
      assert.match(String((outcomes[1] as PromiseRejectedResult).reason), /CHECK constraint/);
      const effects = store.database.prepare("SELECT key FROM effects ORDER BY key").all();
      assert.deepEqual(effects, [{ key: "a" }, { key: "c" }], "b's writes were rolled back");
      const b = await store.readBack({ processor: "grouped", partition: "b", shard: "" });
      assert.equal(b.checkpoint?.cursor, null, "b's checkpoint did not move");
      assert.equal(store.groupCommit.largest, 3, "the three went together");
    } finally {
      await store.close();
    }
  });

  it("completions and history rows join the group; a fenced completion fails alone", async () => {
    const store = open();
    try {
      const [a, staleB, c] = (await leases(store, ["a", "b", "c"])) as [
        LeaseHandle,
        LeaseHandle,
        LeaseHandle,
      ];
      await take(store, "b", "second", T0 + TTL + 1);
      const outcomes = await Promise.allSettled([
        store.complete(a, T0 + 1, leaseRun(a, T0 + 1)),
        store.complete(staleB, T0 + 1, leaseRun(staleB, T0 + 1)),
        store.recordRun(leaseRun(c, T0, "running")),
      ]);
      assert.deepEqual(
        outcomes.map((o) => o.status),
        ["fulfilled", "rejected", "fulfilled"],
        "only the stale completion fails",
      );
      const back = await store.readBack({ processor: "grouped", partition: "a", shard: "" });
      assert.equal(back.completedBy, a.runId, "a's completion landed");
      const runs = await store.listRuns({ processor: "grouped" });
      assert.deepEqual(runs.map((r) => `${r.partition} ${r.status}`).sort(), [
        "a completed",
        "c running",
      ]);
      assert.equal(store.groupCommit.largest, 3, "the three went together");
    } finally {
      await store.close();
    }
  });

  it("with groupCommit: false every commit goes alone", async () => {
    const store = open({ groupCommit: false });
    try {
      const scopes = (await leases(store, ["a", "b"])).map((l) => store.openBatch(l));
      await Promise.all(scopes.map((scope, i) => scope.commit(write(i + 1))));
      assert.deepEqual(store.groupCommit, { enabled: false, groups: 0, commits: 0, largest: 0 });
      const a = await store.readBack({ processor: "grouped", partition: "a", shard: "" });
      assert.equal(a.checkpoint?.cursor, 1, "a's commit landed");
    } finally {
      await store.close();
    }
  });
});

describe("group commit on postgres: a grouped statement that fails", { skip: NO_SERVER }, () => {
  let test: TestPool;
  beforeEach(() => {
    test = openTestPool();
  });
  afterEach(() => test.dispose());

  it("writes each of its commits again alone: the good ones land, the fenced one fails", async () => {
    let refused = 0;
    // A pool that refuses the grouped statement, as a server would a statement it cannot run.
    const pool: PgPool = {
      query: ((config: string | PgQueryConfig, values?: unknown[]) => {
        if (typeof config !== "string" && config.text.includes("unnest")) {
          refused++;
          return Promise.reject(new Error("statement refused"));
        }
        return test.pool.query(config, values);
      }) as PgPool["query"],
      connect: () => test.pool.connect(),
      end: async () => {},
    };
    const store = await PostgresStore.open({ pool, schema: test.schema, clock: "runner" });
    try {
      const lease = (partition: string, owner: string, now = T0) =>
        take(store, partition, owner, now);
      const leases = [
        await lease("a", "first"),
        await lease("b", "first"),
        await lease("c", "first"),
      ];
      await lease("b", "second", T0 + TTL + 1);
      const outcomes = await commitTogether(leases.map((l) => store.openBatch(l)));
      assert.ok((outcomes[1] as PromiseRejectedResult).reason instanceof FencedError, "b fenced");
      assert.equal(refused, 1, "the group was tried once, then each commit alone");
      const a = await store.readBack({ processor: "grouped", partition: "a", shard: "" });
      assert.equal(a.checkpoint?.cursor, 1, "a landed alone");
    } finally {
      await store.close();
    }
  });
});

describe("group commit in a PostgreSQL URL", () => {
  it("?groupCommit=false turns it off and is not passed on to the server", () => {
    const parsed = parsePostgresUrl("postgres://app@db:5432/app?schema=jobs&groupCommit=false");
    assert.deepEqual(parsed, {
      connectionString: "postgres://app@db:5432/app",
      schema: "jobs",
      groupCommit: false,
    });
    assert.equal(parsePostgresUrl("postgres://app@db/app").groupCommit, undefined, "default");
    assert.throws(
      () => parsePostgresUrl("postgres://app@db/app?groupCommit=no"),
      /groupCommit is "no", not true or false/,
    );
  });
});
