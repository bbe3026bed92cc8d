import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { NO_SERVER } from "../stores/postgres-factory.js";
import { until } from "../support/time.js";
import {
  arm,
  checkBackfill,
  type ElasticBackfill,
  type ElasticStore,
  fired,
  openElasticStore,
  pidOf,
  Slot,
  splitCount,
  units,
} from "./elastic-harness.js";

// One partition holds most of the work, so that idle processes ask it to split.
const BACKFILL: ElasticBackfill = {
  sizes: { p1: 1000, p2: 30, p3: 30, p4: 30, p5: 30 },
  batchSize: 5,
  delayMs: 15,
  leaseTtlMs: 1500,
  concurrency: 1,
};

for (const kind of ["sqlite", "postgres"] as const) {
  describe(`three processes share a backfill under SIGKILL, on ${kind}`, {
    skip: kind === "postgres" && NO_SERVER,
    timeout: 120_000,
  }, () => {
    let store: ElasticStore;
    let slots: Slot[] = [];

    afterEach(async () => {
      for (const slot of slots) slot.stop();
      await Promise.all(slots.map((s) => s.done));
      slots = [];
      await store.close();
    });

    const slotOf = (pid: number | null) => slots.find((s) => pid !== null && s.pid === pid);

    it("kills holders and requesters around splits; every entity counted once", async () => {
      store = await openElasticStore(kind);
      arm(store, "in-split");
      arm(store, "after-split");
      const a = new Slot("A", store, BACKFILL);
      slots.push(a);
      await until("A to commit a few batches of p1", async () =>
        (await units(store)).some((u) => u.partition === "p1" && u.completed >= 30),
      );
      slots.push(new Slot("B", store, BACKFILL));

      // B runs the small partitions, then asks p1's holder to split: it dies once it asked,
      // and the holder dies in split(), before answering. Both are started again.
      let requester: number | null = null;
      await until("an idle process to ask p1's holder to split", async () => {
        const asked = (await units(store)).find((u) => u.split_requested_by !== null);
        requester = pidOf(asked?.split_requested_by ?? null);
        return slotOf(requester) !== undefined;
      });
      assert.ok(slotOf(requester)?.kill(), "the requester killed");
      await until("the holder to die between the request and its answer", () =>
        fired(store).has("in-split"),
      );
      slots.push(new Slot("C", store, BACKFILL));

      // Whoever takes p1 over answers the pending request, and dies right after the split.
      await until("a holder to die right after its split committed", () =>
        fired(store).has("after-split"),
      );
      assert.ok((await splitCount(store)) >= 1, "the split was committed before the kill");

      // A shard split off p1 is killed mid-run from outside; another process resumes it.
      let holder: number | null = null;
      await until("a process to run a shard split off p1", async () => {
        const shard = (await units(store)).find(
          (u) => u.shard.startsWith("~") && u.lease_owner !== null && u.completed >= 10,
        );
        holder = pidOf(shard?.lease_owner ?? null);
        return slotOf(holder) !== undefined;
      });
      assert.ok(slotOf(holder)?.kill(), "the shard's holder killed");

      await Promise.all(slots.map((s) => s.done));
      for (const slot of slots) {
        assert.equal(slot.lastCode, 0, `${slot.name} ended 0:\n${slot.exits.at(-1)?.stderr}`);
      }
      const kills = slots.flatMap((s) => s.exits).filter((e) => e.signal === "SIGKILL");
      assert.ok(kills.length >= 4, `four processes killed (${kills.length})`);
      assert.deepEqual(await checkBackfill(store, BACKFILL), []);
      assert.ok((await splitCount(store)) >= 2, "p1 split again after the first kills");
    });
  });
}
