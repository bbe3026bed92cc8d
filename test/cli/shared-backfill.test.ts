import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import {
  checkBackfill,
  ELASTIC_MODULE,
  type ElasticBackfill,
  type ElasticStore,
  openElasticStore,
} from "../crash/elastic-harness.js";
import { NO_SERVER } from "../stores/postgres-factory.js";
import { type CliResult, startWaymark, waymark } from "./cli.js";

const PARTITIONS = ["p1", "p2", "p3", "p4", "p5"];
// Four batches of 80 ms a partition, too few entities left for an idle process to ask for a
// split: the partitions themselves are shared.
const BACKFILL: ElasticBackfill = {
  sizes: Object.fromEntries(PARTITIONS.map((p) => [p, 20])),
  batchSize: 5,
  delayMs: 80,
  leaseTtlMs: 30_000,
  concurrency: 2,
};

/** The partitions a summary says this process ran, and those it says other runs completed. */
function summaryOf(result: CliResult): { ran: string[]; others: string[] } {
  // Five names are shown as `p1 … p5 (5)`: all of them.
  const names = (label: string) => {
    const line = new RegExp(`^  ${label}:\\s+(.*)$`, "m").exec(result.stdout)?.[1];
    if (line === undefined || line === "none") return [];
    return line.includes("…") ? PARTITIONS : line.split(", ");
  };
  return { ran: names("run here"), others: names("completed by other runs") };
}

// The case: the same backfill started twice, 300 ms apart, on one store.
for (const kind of ["sqlite", "postgres"] as const) {
  describe(`two processes of one backfill, 300 ms apart, on ${kind}`, {
    skip: kind === "postgres" && NO_SERVER,
    timeout: 60_000,
  }, () => {
    let store: ElasticStore;
    afterEach(() => store.close());

    it("each runs what the other did not: counters exactly 1, both exit 0", async () => {
      store = await openElasticStore(kind);
      const args = [
        "run",
        ELASTIC_MODULE,
        "--partitions",
        PARTITIONS.join(","),
        "--concurrency",
        "2",
        "--store",
        store.url,
      ];
      const env = {
        ELASTIC_SIZES: JSON.stringify(BACKFILL.sizes),
        COUNTS_TABLE: store.counts,
        BATCH_SIZE: String(BACKFILL.batchSize),
        BATCH_DELAY_MS: String(BACKFILL.delayMs),
      };
      const first = startWaymark(args, { env });
      await delay(300);
      const second = startWaymark(args, { env });
      const [a, b] = await Promise.all([first.exited, second.exited]);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      assert.deepEqual(await checkBackfill(store, BACKFILL), []);

      // Each summary says what it ran and which partitions the other did, and they agree.
      const [one, two] = [summaryOf(a), summaryOf(b)];
      assert.deepEqual([...one.ran, ...two.ran].sort(), PARTITIONS, `${a.stdout}${b.stdout}`);
      assert.deepEqual([one.others.sort(), two.others.sort()], [two.ran.sort(), one.ran.sort()]);

      const again = await waymark(args, { env });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /5 already completed/);
      assert.match(
        again.stdout,
        /The backfill completed at \S+, by \d+ runs: nothing to do\. --rerun-completed runs it again\./,
      );
      assert.deepEqual(await checkBackfill(store, BACKFILL), [], "nothing ran again");
    });
  });
}
