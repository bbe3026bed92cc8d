import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CommitGroups, type CommitOutcome, HeldLeases } from "../../src/stores/group-commit.js";

/** A flush that records each group and fails the commits named in `fail`. */
function recorder(fail: ReadonlySet<string> = new Set()) {
  const groups: string[][] = [];
  const flush = async (commits: readonly string[]): Promise<CommitOutcome[]> => {
    groups.push([...commits]);
    return commits.map((c) =>
      fail.has(c) ? { ok: false, error: new Error(`${c} is fenced`) } : { ok: true },
    );
  };
  return { groups, flush };
}

describe("group commit", () => {
  it("writes a lone run's commit at once, inside the call", async () => {
    const { groups, flush } = recorder();
    const committer = new CommitGroups(flush, () => 1);
    const done = committer.commit("a");
    assert.deepEqual(groups, [["a"]], "flushed before commit() returned");
    await done;
  });

  it("gathers the commits of one turn into one group when several runs are active", async () => {
    const { groups, flush } = recorder();
    const committer = new CommitGroups(flush, () => 8);
    const all = ["a", "b", "c", "d"].map((c) => committer.commit(c));
    assert.deepEqual(groups, [], "waits for the turn to end");
    await Promise.all(all);
    assert.deepEqual(groups, [["a", "b", "c", "d"]]);
  });

  it("fails only the commit its flush reports failed", async () => {
    const { groups, flush } = recorder(new Set(["b"]));
    const committer = new CommitGroups(flush, () => 3);
    const results = await Promise.allSettled(["a", "b", "c"].map((c) => committer.commit(c)));
    assert.deepEqual(
      results.map((r) => r.status),
      ["fulfilled", "rejected", "fulfilled"],
    );
    assert.match(String((results[1] as PromiseRejectedResult).reason), /b is fenced/);
    assert.equal(groups.length, 1);
  });

  it("fails every commit of a group whose transaction failed", async () => {
    const committer = new CommitGroups<string>(
      async () => {
        throw new Error("disk I/O error");
      },
      () => 2,
    );
    const results = await Promise.allSettled([committer.commit("a"), committer.commit("b")]);
    for (const r of results) {
      assert.equal(r.status, "rejected");
      assert.match(String((r as PromiseRejectedResult).reason), /disk I\/O error/);
    }
  });

  it("commits arriving while a group is written go together in the next one", async () => {
    const groups: string[][] = [];
    let release: () => void = () => {};
    const committer = new CommitGroups<string>(
      async (commits) => {
        groups.push([...commits]);
        if (groups.length === 1) await new Promise<void>((resolve) => (release = resolve));
        return commits.map(() => ({ ok: true }));
      },
      () => 8,
    );
    const first = ["a", "b"].map((c) => committer.commit(c));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(groups, [["a", "b"]], "the first group is in flight");
    const later = ["c", "d", "e"].map((c) => committer.commit(c));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(groups.length, 1, "the others wait for the flight");
    release();
    await Promise.all([...first, ...later]);
    assert.deepEqual(groups, [
      ["a", "b"],
      ["c", "d", "e"],
    ]);
  });

  it("is alone only with one active run and no group waiting or in flight", async () => {
    let active = 1;
    let release: () => void = () => {};
    const committer = new CommitGroups<string>(
      async (commits) => {
        await new Promise<void>((resolve) => (release = resolve));
        return commits.map(() => ({ ok: true }));
      },
      () => active,
    );
    assert.equal(committer.alone(), true, "one run, nothing pending");
    active = 2;
    assert.equal(committer.alone(), false, "another run could join");
    active = 1;
    const pending = committer.commit("a");
    assert.equal(committer.alone(), false, "a group is being written");
    release();
    await pending;
    assert.equal(committer.alone(), true, "the group landed");
    assert.deepEqual(committer.stats, { enabled: true, groups: 0, commits: 0, largest: 0 });
  });

  it("counts the leases of one run's shards apart, and each once", () => {
    const held = new HeldLeases();
    const shard = (n: string) => ({
      processor: "p",
      partition: "d",
      shard: n,
      fence: 1,
      runId: "r",
    });
    held.add(shard("0"));
    held.add(shard("1"));
    held.add(shard("1"));
    assert.equal(held.size, 2, "two shards, same run and fence");
    held.delete(shard("0"));
    held.delete(shard("0"));
    assert.equal(held.size, 1, "a lease given back twice counts once");
  });
});
