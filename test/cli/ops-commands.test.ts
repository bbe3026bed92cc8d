import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { buildHistory, type History } from "../reports/history.js";
import { waymark, waymarkInTerminal } from "./cli.js";

describe("operator commands on a SQLite store filled by real runs", () => {
  let h: History;
  let store: string;
  before(async () => {
    h = await buildHistory();
    store = `sqlite:${h.path}`;
  });
  after(async () => {
    await h?.cleanup();
  });

  it("status prints a table with rate, ETA and lease holder, and JSON with --json", async () => {
    const table = await waymark(["status", "--store", store]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout,
      /PROCESSOR\s+PARTITION\s+DONE\s+%\s+RATE\s+ETA\s+AGE\s+LEASE HOLDER\s+RESUMES/,
    );
    assert.match(table.stdout, /gamma\s+g1\s+20\/100\s+20\.0%\s+5\.0\/s\s+16s/);
    const json = await waymark(["status", "--store", store, "--json", "--processor", "alpha"]);
    const { checkpoints: rows } = JSON.parse(json.stdout) as {
      checkpoints: Array<{ partition: string; resumes: number }>;
    };
    assert.deepEqual(rows.map((r) => [r.partition, r.resumes]).sort(), [
      ["p3", 0],
      ["p4", 1],
    ]);
  });

  it("stats --since 7d reports the work saved by resumes", async () => {
    const out = await waymark(["stats", "--store", store, "--json", "--since", "7d"]);
    assert.equal(out.code, 0, out.stderr);
    const { processors } = JSON.parse(out.stdout) as {
      processors: Array<{ processor: string; entitiesSaved: number; timeSavedMs: number }>;
    };
    const alpha = processors.find((p) => p.processor === "alpha");
    assert.equal(alpha?.entitiesSaved, 50);
    assert.equal(alpha?.timeSavedMs, 5_000);
    const table = await waymark(["stats", "--store", store]);
    assert.match(table.stdout, /alpha\s+6\s+3\s+2\s+50\s+5\.0 s/);
  });

  it("a bad duration is a usage error (exit 2) that names the option and the fix", async () => {
    const out = await waymark(["stale", "--store", store, "--older-than", "soon"]);
    assert.equal(out.code, 2);
    assert.match(out.stderr, /--older-than "soon".*7d, 24h, 90m/);
  });

  it("gc --dry-run removes nothing; gc removes exactly what it listed", async () => {
    const checkpointsBefore = await h.store.listCheckpoints();
    const runsBefore = await h.store.listRuns();
    const dry = await waymark(["gc", "--store", store, "--dry-run", "--json"]);
    assert.equal(dry.code, 0, dry.stderr);
    const listed = JSON.parse(dry.stdout) as {
      checkpoints: Array<{ processor: string; partition: string }>;
      runs: Array<{ run: { runId: string } }>;
    };
    assert.deepEqual(listed.checkpoints.map((c) => `${c.processor}/${c.partition}`).sort(), [
      "beta/b1",
      "delta/d1",
    ]);
    assert.deepEqual(await h.store.listCheckpoints(), checkpointsBefore);
    assert.deepEqual(await h.store.listRuns(), runsBefore);

    const text = await waymark(["stale", "--store", store]);
    assert.match(text.stdout, /beta\s+b1\s+20\/50/);
    assert.match(text.stdout, /delta\s+d1\s+lease-expired/);

    const gc = await waymark(["gc", "--store", store]);
    assert.equal(gc.code, 0, gc.stderr);
    assert.match(gc.stdout, /2 checkpoints removed, 1 dead runs marked failed/);
    const left = (await h.store.listCheckpoints()).map((c) => `${c.processor}/${c.partition}`);
    assert.deepEqual(
      left.sort(),
      checkpointsBefore
        .map((c) => `${c.processor}/${c.partition}`)
        .filter((k) => !["beta/b1", "delta/d1"].includes(k))
        .sort(),
    );
    const [dead] = await h.store.listRuns({ processor: "delta" });
    assert.equal(dead?.runId, listed.runs[0]?.run.runId);
    assert.equal(dead?.status, "failed");
  });

  it("reset: refuses without a terminal or --yes, refuses a live lease, resets with --yes", async () => {
    const refused = await waymark(["reset", "alpha", "p3", "--store", store]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--yes/);
    assert.ok(await h.store.getCheckpoint({ processor: "alpha", partition: "p3", shard: "" }));

    const leased = await waymark(["reset", "gamma", "g1", "--yes", "--store", store]);
    assert.equal(leased.code, 75, leased.stderr);
    const missing = await waymark(["reset", "alpha", "nope", "--yes", "--store", store]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No checkpoint for alpha\/nope/);

    const before = await h.store.getCheckpoint({ processor: "alpha", partition: "p3", shard: "" });
    const reset = await waymark(["reset", "alpha", "p3", "--yes", "--store", store]);
    assert.equal(reset.code, 0, reset.stderr);
    // Every redo says what it discards.
    assert.equal(
      reset.stdout,
      `Reset alpha/p3: deleted its checkpoint at ${before?.completed}/${before?.total ?? "?"} ` +
        "entities; the next run starts over and redoes them.\n",
    );
    assert.equal(
      await h.store.getCheckpoint({ processor: "alpha", partition: "p3", shard: "" }),
      null,
    );
  });

  it("reset on a terminal asks y/N: no keeps the checkpoint (exit 1), yes resets it", async () => {
    const key = { processor: "alpha", partition: "p4", shard: "" };
    const no = await waymarkInTerminal(["reset", "alpha", "p4", "--store", store], "n\n");
    assert.match(no.stdout, /Reset alpha\/p4\? The next run starts over\. \[y\/N\]/);
    assert.match(no.stdout, /Nothing reset\./);
    assert.equal(no.code, 1);
    assert.ok(await h.store.getCheckpoint(key));
    const yes = await waymarkInTerminal(["reset", "alpha", "p4", "--store", store], "y\n");
    assert.equal(yes.code, 0, yes.stdout);
    assert.equal(await h.store.getCheckpoint(key), null);
  });

  it("an unreachable store exits 3", async () => {
    const out = await waymark(["status", "--store", "bogus://x"]);
    assert.equal(out.code, 3);
  });
});
