import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { checkpointKey, defineProcessor, PostgresStore, run } from "../../src/index.js";
import { until } from "../support/time.js";
import { NO_SERVER, openTestPool, type TestPool } from "./postgres-factory.js";

const MINUTES = 60_000;
const TTL = 1000;

describe("PostgreSQL store: leases by the server's clock", { skip: NO_SERVER }, () => {
  let test: TestPool;
  let store: PostgresStore;
  before(async () => {
    test = openTestPool();
    store = await PostgresStore.open({ pool: test.pool, schema: test.schema });
  });
  after(async () => {
    await store.close();
    await test.dispose();
  });

  const serverNow = async () => {
    const result = await test.pool.query<{ ms: string }>(
      "SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint AS ms",
    );
    return Number(result.rows[0]?.ms);
  };

  it("runners whose clocks are minutes apart never take a lease its holder renews", async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let inBatch = false;
    const processor = defineProcessor<number>({
      name: "skewed",
      batchSize: 5,
      leaseTtlMs: TTL,
      entities: () => Array.from({ length: 10 }, (_, i) => i + 1),
      id: (n) => n,
      async processBatch(batch) {
        // Only the holder's first batch waits; a runner that took the lease would go through.
        if (batch[0] !== 1 || inBatch) return;
        inBatch = true;
        await held;
      },
    });
    // The holder's clock is five minutes slow: by its own clock its lease is long expired.
    const holder = run(processor, {
      store,
      partition: "p",
      logger: false,
      now: () => Date.now() - 5 * MINUTES,
    });
    await until("the holder to be inside its first batch", () => inBatch);
    // Runners five minutes fast and slow ask again and again for three lease lifetimes.
    const outcomes: string[] = [];
    const askedUntil = Date.now() + 3 * TTL;
    for (let i = 0; Date.now() < askedUntil; i++) {
      const skew = (i % 2 === 0 ? 5 : -5) * MINUTES;
      const other = await run(processor, {
        store,
        partition: "p",
        logger: false,
        now: () => Date.now() + skew,
      });
      outcomes.push(other.status);
    }
    release();
    const result = await holder;
    assert.equal(result.status, "completed", result.error?.message);
    assert.equal(result.processed, 10);
    assert.ok(outcomes.length >= 3, `asked ${outcomes.length} times`);
    assert.deepEqual(new Set(outcomes), new Set(["busy"]), "no run took the live lease");
  });

  it("a dead holder's lease is taken after leaseTtlMs by the server's clock, whatever the runners' clocks say", async () => {
    const key = checkpointKey("dead", "p");
    const took = await store.acquire({
      ...key,
      owner: "dead-runner",
      runId: "dead-run",
      leaseTtlMs: TTL,
      // Ten minutes fast: by its own clock the lease would last ten more minutes.
      now: Date.now() + 10 * MINUTES,
    });
    const takenAt = Date.now();
    assert.ok(took.acquired);
    const expiresIn = (took.checkpoint.leaseExpiresAt as number) - (await serverNow());
    assert.ok(expiresIn > 0 && expiresIn <= TTL, `expires ${expiresIn} ms from the server's now`);
    const ask = () =>
      store.acquire({
        ...key,
        owner: "next-runner",
        runId: "next-run",
        leaseTtlMs: TTL,
        // Ten minutes slow: by its own clock the dead lease would have expired long ago... or
        // never, for the fast one. The server decides.
        now: Date.now() - 10 * MINUTES,
      });
    assert.equal((await ask()).acquired, false, "taken at once: the lease is live");
    await until("the dead lease to expire", async () => (await ask()).acquired, {
      timeoutMs: 10_000,
    });
    const waited = Date.now() - takenAt;
    assert.ok(waited >= TTL - 100, `taken over after ${waited} ms, before the lease expired`);
    const checkpoint = await store.getCheckpoint(key);
    assert.equal(checkpoint?.leaseOwner, "next-runner");
    assert.equal(checkpoint?.fence, 2);
  });
});
