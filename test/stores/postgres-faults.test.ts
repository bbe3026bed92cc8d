import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import pg from "pg";
import { PostgresStore, StoreError } from "../../src/index.js";
import { redactUrl } from "../../src/stores/postgres/postgres-errors.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { until } from "../support/time.js";
import { NO_SERVER, PG_TEST_URL } from "./postgres-factory.js";

const schemas: string[] = [];
function newSchema(): string {
  const schema = `t_${randomBytes(6).toString("hex")}`;
  schemas.push(schema);
  return schema;
}

after(async () => {
  if (!PG_TEST_URL) return;
  const pool = new pg.Pool({ connectionString: PG_TEST_URL, max: 1 });
  for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await pool.end();
});

describe("PostgreSQL store: dropped connections", { skip: NO_SERVER }, () => {
  let proxy: FaultProxy;

  it("a connection cut during the first schema setup is STORE_UNAVAILABLE, not a crash", async () => {
    proxy = await startFaultProxy({
      target: PG_TEST_URL as string,
      seed: 1,
      probability: { "mid-transaction": 1 },
    });
    try {
      const schema = newSchema();
      await assert.rejects(
        PostgresStore.open({ connectionString: proxy.url, schema, poolSize: 2 }),
        (error: unknown) =>
          error instanceof StoreError &&
          error.code === "STORE_UNAVAILABLE" &&
          error.location === redactUrl(proxy.url) &&
          /Connection terminated/.test(String((error.cause as Error)?.message)),
      );
      assert.ok(
        proxy.faults.some((f) => f.kind === "mid-transaction"),
        "the cut happened",
      );
      // Once the network behaves, the same schema is set up from scratch.
      proxy.enabled = false;
      const store = await PostgresStore.open({ connectionString: proxy.url, schema, poolSize: 2 });
      assert.deepEqual(await store.listCheckpoints(), []);
      await store.close();
    } finally {
      await proxy.close();
    }
  });

  it("an idle pooled connection cut by the network is dropped quietly, on its own pool or yours", async () => {
    proxy = await startFaultProxy({
      target: PG_TEST_URL as string,
      seed: 2,
      probability: { idle: 1 },
    });
    proxy.enabled = false;
    // A pool of the caller's without an error listener: the store adds one.
    const yours = new pg.Pool({ connectionString: proxy.url, max: 3 });
    const own = await PostgresStore.open({
      connectionString: proxy.url,
      schema: newSchema(),
      poolSize: 3,
    });
    const stores = [own, await PostgresStore.open({ pool: yours, schema: newSchema() })];
    try {
      // Two idle connections in each pool.
      for (const store of stores) await Promise.all([store.listCheckpoints(), store.listRuns()]);
      const ownPool = own.pool as unknown as pg.Pool;
      const [ownBefore, yoursBefore] = [ownPool.totalCount, yours.totalCount];
      assert.ok(ownBefore >= 1 && yoursBefore >= 1, `${ownBefore} and ${yoursBefore} connections`);
      // From now on every connection is cut as soon as it has answered, in either pool.
      proxy.enabled = true;
      for (const store of stores) await store.listRuns();
      proxy.enabled = false;
      assert.equal(proxy.faults.filter((f) => f.kind === "idle").length, 2, "idle cuts happened");
      await until("both pools to drop their cut connection", () => {
        return ownPool.totalCount < ownBefore && yours.totalCount < yoursBefore;
      });
      // Both stores go on working on fresh connections.
      for (const store of stores) assert.deepEqual(await store.listCheckpoints(), []);
    } finally {
      for (const store of stores) await store.close();
      await yours.end();
      await proxy.close();
    }
  });
});
