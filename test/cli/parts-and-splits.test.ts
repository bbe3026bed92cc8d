import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { collectDashboardData } from "../../src/dashboard/app.js";
import { renderSections } from "../../src/dashboard/render.js";
import {
  defineProcessor,
  fromRange,
  openStore,
  type RolledStatusRow,
  runPartitions,
  type SplitRecord,
} from "../../src/index.js";
import { waymark } from "./cli.js";

/** A batch that fails for good: the run fails and its checkpoint stays where it got to. */
function failPast(limit: (id: number) => boolean) {
  return async (batch: number[]) => {
    if (batch.some(limit)) throw new Error(`no data for ${batch.find(limit)}`);
  };
}

const pause = () => new Promise((resolve) => setTimeout(resolve, 15));

// Three shards of 100; shard 0 completes, shards 1 and 2 fail 40 entities in.
const staticParts = defineProcessor({
  name: "static-parts",
  ...fromRange({ from: 1, to: 300 }),
  batchSize: 10,
  retry: false,
  shards: () => [
    { id: 0, to: 100 },
    { id: 1, from: 100, to: 200 },
    { id: 2, from: 200 },
  ],
  processBatch: failPast((id) => (id > 140 && id <= 200) || id > 240),
});

// P is split while it runs (fromRange names split points) by the slot that ran the small Q;
// the part of P past 280 fails.
const splitParts = defineProcessor({
  name: "split-parts",
  ...fromRange(({ partition }) => ({ from: 1, to: partition === "P" ? 300 : 10 })),
  batchSize: 10,
  retry: false,
  async processBatch(batch) {
    await pause();
    await failPast((id) => id > 280)(batch);
  },
});

// No split hook: P's holder declines the request of the slot that ran Q, and says why.
const unsplittable = defineProcessor({
  name: "unsplittable",
  entities: ({ partition, after }) =>
    Array.from({ length: partition === "P" ? 300 : 10 }, (_, i) => i + 1).filter(
      (n) => n > ((after as number) ?? 0),
    ),
  id: (n) => n,
  count: ({ partition }) => (partition === "P" ? 300 : 10),
  batchSize: 10,
  retry: false,
  async processBatch(batch) {
    await pause();
    await failPast((id) => id > 200)(batch);
  },
});

describe("waymark status and runs --splits of partitions in parts", () => {
  let dir: string;
  let url: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "waymark-status-parts-"));
    url = `sqlite:${join(dir, "waymark.db")}`;
    const store = await openStore(url);
    try {
      const options = { store, logger: false as const, pollIntervalMs: 10 };
      await runPartitions(staticParts, { ...options, partitions: ["P"] });
      const two = { ...options, partitions: ["P", "Q"], concurrency: 2 };
      await runPartitions(splitParts, two);
      await runPartitions(unsplittable, two);
    } finally {
      await store.close();
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const status = async (processor: string) => {
    const [json, table] = await Promise.all([
      waymark(["status", "--store", url, "--json", "--processor", processor]),
      waymark(["status", "--store", url, "--processor", processor]),
    ]);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(table.code, 0, table.stderr);
    const parsed = JSON.parse(json.stdout) as { checkpoints: RolledStatusRow[] };
    return { rows: parsed.checkpoints, table: table.stdout };
  };

  it("counts a static shard that completed in its partition's progress", async () => {
    const { rows, table } = await status("static-parts");
    assert.equal(rows.length, 1);
    const row = rows[0] as RolledStatusRow;
    assert.deepEqual([row.completed, row.total, row.percent], [180, 300, 60]);
    assert.deepEqual(
      row.shards?.map((s) => [s.shard, s.completed, s.total]),
      [
        ["1", 40, 100],
        ["2", 40, 100],
      ],
    );
    assert.deepEqual(
      row.completedShards?.map((s) => [s.shard, s.completed]),
      [["0", 100]],
    );
    assert.match(table, /static-parts +P +3 shards, 1 done +180\/300 +60\.0%/);
  });

  it("counts the parts of a split partition that completed, over its whole range", async () => {
    const { rows, table } = await status("split-parts");
    assert.equal(rows.length, 1);
    const row = rows[0] as RolledStatusRow;
    const done = row.completedShards ?? [];
    assert.ok(
      done.some((s) => s.shard === ""),
      `the partition's first part completed: ${JSON.stringify(row)}`,
    );
    assert.ok(
      (row.shards ?? []).every((s) => s.parent !== null),
      "what is left was split off",
    );
    const inFlight = (row.shards ?? []).reduce((n, s) => n + s.completed, 0);
    const completed = done.reduce((n, s) => n + (s.completed ?? 0), 0) + inFlight;
    assert.deepEqual([row.completed, row.total], [completed, 300], "the whole range: 300");
    assert.ok(completed > 200 && completed <= 280, `done up to the failing batch: ${completed}`);
    const parts = (row.shards?.length ?? 0) + done.length;
    const percent = ((completed / 300) * 100).toFixed(1).replace(".", "\\.");
    assert.match(
      table,
      new RegExp(
        `split-parts +P +${parts} shards, ${done.length} done +${completed}/300 +${percent}%`,
      ),
    );
  });

  it("says why a partition asked to split was not", async () => {
    const { rows, table } = await status("unsplittable");
    assert.equal(rows.length, 1);
    assert.match(rows[0]?.splitNote ?? "", /no split hook/);
    assert.match(table, /Not split:\n {2}unsplittable\/P: its processor has no split hook/);
  });

  it("the dashboard shows the same progress and the same reason", async () => {
    const store = await openStore(url, { readOnly: true });
    try {
      const { status } = renderSections(await collectDashboardData(store, Date.now()), false);
      assert.match(status ?? "", /180\/300 \(60\.0%\)<\/td>[\s\S]*?2 shards in flight, 1 done/);
      assert.match(status ?? "", /not split: its processor has no split hook/);
    } finally {
      await store.close();
    }
  });

  it("runs --splits lists each split: when, at which cursor, the shard it made, who asked", async () => {
    const [json, table, none] = await Promise.all([
      waymark(["runs", "--store", url, "--splits", "--json"]),
      waymark(["runs", "--store", url, "--splits"]),
      waymark(["runs", "--store", url, "--splits", "--processor", "static-parts"]),
    ]);
    for (const r of [json, table, none]) assert.equal(r.code, 0, r.stderr);
    const splits = JSON.parse(json.stdout) as SplitRecord[];
    assert.ok(splits.length >= 1, "P of split-parts was split");
    const status = (
      JSON.parse(
        (await waymark(["status", "--store", url, "--json", "--processor", "split-parts"])).stdout,
      ) as { checkpoints: RolledStatusRow[] }
    ).checkpoints;
    const parts = [...(status[0]?.shards ?? []), ...(status[0]?.completedShards ?? [])];
    for (const split of splits) {
      assert.deepEqual([split.processor, split.partition], ["split-parts", "P"]);
      assert.ok(
        parts.some((p) => p.shard === split.newShard),
        `${split.newShard} is a part of P`,
      );
      assert.match(split.requestedBy ?? "", /:backfill$/, "asked by the idle slot's backfill");
      assert.equal(typeof split.at, "number");
    }
    const first = splits.at(-1) as SplitRecord;
    assert.equal(first.shard, "", "the first split is of the whole partition");
    assert.match(
      table.stdout,
      new RegExp(
        `^SPLIT AT \\(UTC\\) +PROCESSOR +PARTITION +SHARD +AT CURSOR +NEW SHARD +REQUESTED BY +SPLIT BY RUN\n` +
          `(.*\n)*\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +split-parts +P +${first.at} +\\${first.newShard} +\\S+:backfill +${first.runId}`,
      ),
    );
    assert.equal(none.stdout.trim(), "No splits recorded.");
  });

  it("runs --splits refuses the filters of runs, exit 2", async () => {
    const result = await waymark(["runs", "--store", url, "--splits", "--status", "failed"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--splits lists splits by --processor, --partition and --limit/);
  });
});
