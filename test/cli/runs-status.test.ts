import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { defineProcessor, openStore, type RunRecord, run } from "../../src/index.js";
import { noBackoff } from "../support/time.js";
import { waymark } from "./cli.js";

const PLAYERS = Array.from({ length: 450 }, (_, i) => ({ id: i + 1 }));

/** Fills a SQLite store with real runs: one completed, one failed at 300/450. */
async function fill(url: string): Promise<void> {
  const store = await openStore(url);
  const players = defineProcessor({
    name: "player-game-summary",
    entities: ({ after }) => PLAYERS.filter((p) => after === null || p.id > (after as number)),
    id: (p) => p.id,
    processBatch: async (batch, ctx) => {
      if (ctx.partition === "2024-01-15" && batch[0]?.id === 301) {
        throw new Error(`Quota exceeded: ${"the API said no. ".repeat(10)}\nsecond line`);
      }
    },
  });
  try {
    const done = await run(players, { store, partition: "2024-01-14", logger: false });
    const failed = await run(players, {
      store,
      partition: "2024-01-15",
      logger: false,
      sleep: noBackoff,
    });
    assert.deepEqual([done.status, failed.status], ["completed", "failed"]);
  } finally {
    await store.close();
  }
}

describe("waymark runs and status", () => {
  let dir: string;
  let url: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "waymark-cli-test-"));
    url = `sqlite:${join(dir, "waymark.db")}`;
    await fill(url);
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs --json lists the history newest first, and the filters narrow it", async () => {
    const [all, failed, limited, partition] = await Promise.all([
      waymark(["runs", "--store", url, "--json"]),
      waymark(["runs", "--store", url, "--json", "--status", "failed"]),
      waymark(["runs", "--store", url, "--json", "--limit", "1"]),
      waymark(["runs", "--store", url, "--json", "--partition", "2024-01-14"]),
    ]);
    for (const r of [all, failed, limited, partition]) assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(all.stdout) as Array<RunRecord & { durationMs: number }>;
    assert.deepEqual(
      rows.map((r) => [r.partition, r.status, r.processed, r.total, r.batches]),
      [
        ["2024-01-15", "failed", 300, 450, 6],
        ["2024-01-14", "completed", 450, 450, 9],
      ],
    );
    for (const r of rows) assert.equal(r.durationMs, (r.finishedAt ?? 0) - r.startedAt);
    assert.match(rows[0]?.error ?? "", /Quota exceeded/);
    const partitions = (out: string) =>
      (JSON.parse(out) as RunRecord[]).map((r) => `${r.partition} ${r.status}`);
    assert.deepEqual(partitions(failed.stdout), ["2024-01-15 failed"]);
    assert.deepEqual(partitions(limited.stdout), ["2024-01-15 failed"]);
    assert.deepEqual(partitions(partition.stdout), ["2024-01-14 completed"]);
  });

  it("runs prints a table with the outcome, work done and a shortened error", async () => {
    const result = await waymark(["runs", "--store", url]);
    assert.equal(result.code, 0, result.stderr);
    const [header, first, second] = result.stdout.trimEnd().split("\n");
    for (const column of ["STARTED", "PROCESSOR", "STATUS", "PROCESSED", "RESUMED FROM", "ERROR"]) {
      assert.ok(header?.includes(column), `column ${column} in ${header}`);
    }
    assert.match(first ?? "", /player-game-summary +2024-01-15 +failed +300 of 450 .*Quota/);
    assert.ok(first?.endsWith("…"), "a long error is cut");
    assert.ok(!result.stdout.includes("second line"), "only the first line of an error shows");
    assert.match(second ?? "", /2024-01-14 +completed +450 of 450/);
  });

  it("status shows the failed run's checkpoint at 300/450, as JSON and as a table", async () => {
    const [json, table] = await Promise.all([
      waymark(["status", "--store", url, "--json"]),
      waymark(["status", "--store", url]),
    ]);
    assert.equal(json.code, 0, json.stderr);
    const rows = (JSON.parse(json.stdout) as { checkpoints: Array<Record<string, unknown>> })
      .checkpoints;
    assert.equal(rows.length, 1, "the completed partition's checkpoint was cleared");
    assert.deepEqual(
      [rows[0]?.partition, rows[0]?.completed, rows[0]?.total, rows[0]?.percent, rows[0]?.cursor],
      ["2024-01-15", 300, 450, 66.7, 300],
    );
    assert.equal(rows[0]?.leaseHolder, null, "a failed run releases its lease");
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /player-game-summary +2024-01-15 +300\/450 +66\.7%/);
  });

  it("says so when a store has no runs or checkpoints", async () => {
    const empty = `sqlite:${join(dir, "empty.db")}`;
    await (await openStore(empty)).close(); // a store nothing has run on yet
    const [runs, status] = await Promise.all([
      waymark(["runs", "--store", empty]),
      waymark(["status", "--store", empty]),
    ]);
    assert.equal(runs.stdout.trim(), "No runs recorded.");
    assert.equal(status.stdout.trim(), "No active checkpoints.");
  });

  it("exits 2 on a bad option and 3 on a store it cannot open", async () => {
    const notADir = join(dir, "plain-file");
    writeFileSync(notADir, "not a folder");
    const unreachable = `sqlite:${join(notADir, "waymark.db")}`;
    const cases: Array<[args: string[], code: number, stderr: RegExp]> = [
      [["runs", "--store", url, "--limit", "0"], 2, /--limit.*"0"/],
      [["runs", "--store", url, "--limit", "1.5"], 2, /--limit/],
      [["runs", "--store", url, "--status", "exploded"], 2, /Allowed choices/],
      [["runs", "--store", url, "--no-such-option"], 2, /unknown option/],
      [["status", "--store", url, "--no-such-option"], 2, /unknown option/],
      [["runs", "--store", unreachable], 3, /No store at .*plain-file\/waymark\.db/],
      [["status", "--store", unreachable], 3, /No store at .*plain-file\/waymark\.db/],
      [["runs", "--store", "mysql://somewhere"], 3, /Unknown store URL/],
    ];
    const results = await Promise.all(cases.map(([args]) => waymark(args)));
    results.forEach((result, i) => {
      const [args, code, stderr] = cases[i] as (typeof cases)[number];
      assert.equal(result.code, code, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, stderr, args.join(" "));
    });
  });
});
