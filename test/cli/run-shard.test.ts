import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { checkpointKey } from "../../src/core/checkpoint-key.js";
import type { BackfillStore } from "../../src/core/store/backfill-store.js";
import { SqliteStore } from "../../src/index.js";
import { type EffectsDb, effectsDb } from "../support/effects-db.js";
import { type CliResult, waymark } from "./cli.js";

const MODULE = fileURLToPath(new URL("../fixtures/shard-processors.ts", import.meta.url));

describe("waymark run --shard", () => {
  let fixture: EffectsDb;
  let db: string;
  beforeEach(() => {
    fixture = effectsDb("waymark-run-shard-");
    db = fixture.db;
  });
  afterEach(() => fixture.cleanup());

  const run = (args: string[]): Promise<CliResult> =>
    waymark(["run", MODULE, ...args, ...fixture.store]);

  /** The entities each processor wrote, as `processor partition first-last` runs. */
  function written(): string[] {
    const database = new Database(db, { readonly: true });
    try {
      const rows = database
        .prepare(
          `SELECT processor, partition, min(entity) AS first, max(entity) AS last,
             count(*) AS n, max(writes) AS most
           FROM effects GROUP BY processor, partition ORDER BY processor, partition`,
        )
        .all() as Array<Record<string, string | number>>;
      return rows.map((r) => `${r.processor} ${r.partition} ${r.first}-${r.last} ${r.n}x${r.most}`);
    } finally {
      database.close();
    }
  }

  it("runs one static shard of a partition, and its summary says so", async () => {
    const text = await run(["sharded", "--partition", "P", "--shard", "1"]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /^sharded: 1 shard of 1 partition: 1 completed in \S+; 50 entities processed\.$/m,
    );
    assert.deepEqual(written(), ["sharded P 51-100 50x1"], "only shard 1's ids, once");

    const json = await run(["sharded", "--partition", "Q", "--shard", "0", "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const lines = json.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const summary = lines.find((l) => l.event === "summary");
    assert.deepEqual(
      summary.partitions.map((p: Record<string, unknown>) => [p.partition, p.shard, p.status]),
      [["Q", "0", "completed"]],
    );
    assert.equal(typeof summary.partitions[0].runId, "string");
    assert.deepEqual([summary.backfill, summary.waiting], [null, []], "one shard is no backfill");
    assert.ok(lines.some((l) => l.event === "run-finished" && l.shard === "0"));
  });

  it("runs a shard split off a running partition: the ids after the split", async () => {
    const store = new SqliteStore(db);
    try {
      const taken = await store.acquire({
        ...checkpointKey("whole", "P"),
        owner: "host:1:aa",
        runId: "holder",
        leaseTtlMs: 30_000,
        now: Date.now(),
        unit: { range: { from: null, to: null }, layout: "" },
      });
      assert.ok(taken.acquired);
      const backfills = store.backfills as BackfillStore;
      await backfills.requestSplit(taken.lease, "host:2:bb", Date.now());
      const split = { kind: "split" as const, at: 60, shard: "~rest", requestedBy: "host:2:bb" };
      await backfills.answerSplit(taken.lease, split, Date.now());
    } finally {
      await store.close();
    }
    const result = await run(["whole", "--partition", "P", "--shard", "~rest"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /^whole: 1 shard split off P: 1 completed in \S+; 40 entities processed\.$/m,
    );
    assert.deepEqual(written(), ["whole P 61-100 40x1"]);

    const gone = await run(["whole", "--partition", "P", "--shard", "~rest"]);
    assert.equal(gone.code, 0, gone.stderr);
    assert.match(gone.stdout, /skipped +P shard ~rest +no such shard: it completed/);
  });

  it("refuses what does not name one shard of one partition, exit 2", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["sharded", "--partitions", "P,Q", "--shard", "1"], /--shard goes with --partition P/],
      [["sharded", "--partition", "P", "--shard", "1", "--concurrency", "2"], /--concurrency/],
      [["sharded", "--partition", "P", "--shard", "1", "--rerun-completed"], /--rerun-completed/],
      [["sharded", "--partition", "P", "--shard", "7"], /has no shard 7 .* its shards are 0, 1/],
      [["whole", "--partition", "P", "--shard", "1"], /defines no shards/],
    ];
    const results = await Promise.all(cases.map(([args]) => run(args)));
    results.forEach((result, i) => {
      const [args, stderr] = cases[i] as (typeof cases)[number];
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, stderr, args.join(" "));
    });
    assert.deepEqual(written(), [], "nothing ran");
  });

  it("a backfill of a sharded processor counts shards of partitions", async () => {
    const result = await run(["sharded", "--partitions", "P,Q"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^sharded: 4 shards of 2 partitions: 4 completed in \S+; 200/m);
  });
});
