import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidOptionError } from "../../src/core/errors.js";
import { defineProcessor } from "../../src/core/processor.js";
import {
  type PgBossLike,
  type PgBossSendOptions,
  workPartitions,
} from "../../src/integrations/pg-boss.js";
import { MemoryStore } from "../../src/stores/memory/memory-store.js";

type Handler = Parameters<PgBossLike["work"]>[2];

/** A pg-boss that records what the worker asks of it and hands jobs to its handler by hand. */
function recordingBoss() {
  const calls: Array<[string, ...unknown[]]> = [];
  let handler: Handler | undefined;
  let next = 0;
  const boss: PgBossLike = {
    async createQueue(name, options) {
      calls.push(["createQueue", name, options]);
    },
    async updateQueue(name, options) {
      calls.push(["updateQueue", name, options]);
    },
    async send(name, data, options?: PgBossSendOptions) {
      calls.push(["send", name, data, options]);
      return `job-${++next}`;
    },
    async work(_name, _options, h) {
      handler = h;
      return "worker";
    },
    async getJobById() {
      return { state: "active" };
    },
    async cancel(name, id) {
      calls.push(["cancel", name, id]);
    },
  };
  return {
    boss,
    calls,
    deliver: (job: { id: string; data: unknown; expireInSeconds: number }) => {
      if (!handler) throw new Error("workPartitions registered no handler");
      return handler([job]);
    },
  };
}

const processor = defineProcessor<number>({
  name: "numbers",
  leaseTtlMs: 4000,
  entities: ({ after }) => [1, 2, 3].filter((n) => after === null || n > after),
  id: (n) => n,
  processBatch() {},
});

describe("workPartitions: job expiry and watch jobs", () => {
  it("derives the job expiry from the time budget, or takes it as given", async () => {
    for (const [options, expected] of [
      [{ timeBudgetMs: 9000 }, 10],
      [{ timeBudgetMs: 9000, deadlineMarginMs: 2000 }, 11],
      [{ jobExpirySeconds: 600, timeBudgetMs: 9000 }, 600],
    ] as const) {
      const { boss, calls } = recordingBoss();
      await workPartitions(boss, processor, { store: new MemoryStore(), ...options });
      assert.deepEqual(
        calls,
        [
          ["createQueue", "waymark-numbers", { expireInSeconds: expected }],
          [
            "updateQueue",
            "waymark-numbers",
            { name: "waymark-numbers", expireInSeconds: expected },
          ],
        ],
        JSON.stringify(options),
      );
    }
    const { boss, calls } = recordingBoss();
    await workPartitions(boss, processor, { store: new MemoryStore() });
    assert.deepEqual(calls, [["createQueue", "waymark-numbers", undefined]], "the queue's own");
  });

  it("refuses an expiry pg-boss cannot take", async () => {
    for (const options of [
      { jobExpirySeconds: 1 },
      { jobExpirySeconds: 2.5 },
      { timeBudgetMs: 10 },
    ]) {
      const { boss } = recordingBoss();
      await assert.rejects(
        workPartitions(boss, processor, { store: new MemoryStore(), ...options }),
        (error: unknown) => error instanceof InvalidOptionError,
        JSON.stringify(options),
      );
    }
  });

  it("sends a watch job after the lease while a job runs, and cancels it when the run ends", async () => {
    const { boss, calls, deliver } = recordingBoss();
    await workPartitions(boss, processor, {
      store: new MemoryStore(),
      jobExpirySeconds: 60,
      logger: false,
    });
    calls.length = 0;
    await deliver({ id: "job-a", data: { partition: "p", requestedAt: 0 }, expireInSeconds: 60 });
    assert.deepEqual(calls, [
      [
        "send",
        "waymark-numbers",
        { partition: "p", requestedAt: 0, watch: "job-a" },
        { expireInSeconds: 60, startAfter: 4 },
      ],
      ["cancel", "waymark-numbers", "job-1"],
    ]);
  });

  it("a watch job waits for a live lease and takes an expired one over", async () => {
    const store = new MemoryStore();
    const { boss, calls, deliver } = recordingBoss();
    await workPartitions(boss, processor, { store, logger: false });
    const hold = (partition: string, now: number) =>
      store.acquire({
        processor: "numbers",
        partition,
        shard: "",
        owner: "dead-or-alive",
        runId: `run-${partition}`,
        leaseTtlMs: 30_000,
        now,
      });
    await hold("live", Date.now());
    await hold("dead", Date.now() - 60_000);

    calls.length = 0;
    const watch = (partition: string) => ({
      id: `watch-${partition}`,
      data: { partition, requestedAt: 0, watch: `job-${partition}` },
      expireInSeconds: 60,
    });
    assert.deepEqual(await deliver(watch("live")), { watched: "job-live", state: "active" });
    const [sent] = calls;
    assert.deepEqual(sent?.slice(0, 3), [
      "send",
      "waymark-numbers",
      { partition: "live", requestedAt: 0, watch: "job-live" },
    ]);
    const again = (sent?.[3] as PgBossSendOptions | undefined)?.startAfter ?? 0;
    assert.ok(again >= 29 && again <= 30, `looks again when the lease expires, got ${again} s`);

    calls.length = 0;
    const output = (await deliver(watch("dead"))) as { status: string; processed: number };
    assert.equal(output?.status, "completed");
    assert.equal(output?.processed, 3);
    assert.deepEqual(
      calls.filter(([call]) => call === "cancel").map(([, , id]) => id),
      ["job-2", "job-dead"],
      "its own watch job, then the dead job",
    );
  });
});
