// Four `waymark run` processes of four runs each share one quota through the store, against a
// fake API on 127.0.0.1: 50 calls a second, burst 10. The API counts what it receives.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { after, describe, it } from "node:test";
import pg from "pg";
import { NO_SERVER, PG_TEST_URL } from "../stores/postgres-factory.js";
import { type ApiRequest, type FakeApi, startFakeApi } from "../support/fake-api.js";
import { mostInWindow } from "../support/virtual-time.js";
import { type CliResult, ROOT, startWaymark } from "./cli.js";

const MODULE = join(ROOT, "test", "fixtures", "quota-api.ts");
const LIMIT = 50;
const BURST = 10;
/**
 * After a 429 the runs of other processes may still send what they had begun: a batch past its
 * last check of the pause (checks are 100 ms apart) and its five calls.
 */
const PAUSE_SLACK_MS = 300;

/** The stores the processes share: a SQLite file, and a PostgreSQL schema of the test's own. */
const stores: Array<{
  name: string;
  skip: string | false;
  open(): { url: string; drop(): Promise<void> };
}> = [
  {
    name: "sqlite",
    skip: false,
    open() {
      const dir = mkdtempSync(join(tmpdir(), "waymark-quota-"));
      return {
        url: `sqlite:${join(dir, "waymark.db")}`,
        drop: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: "postgres",
    skip: NO_SERVER,
    open() {
      const schema = `t_${randomBytes(6).toString("hex")}`;
      const url = new URL(PG_TEST_URL as string);
      url.searchParams.set("schema", schema);
      return {
        url: url.href,
        async drop() {
          const client = new pg.Client({ connectionString: PG_TEST_URL });
          await client.connect();
          await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await client.end();
        },
      };
    },
  },
];

/** Starts one `waymark run` of the fixture on `partitions`. */
function runProcess(url: string, api: FakeApi, partitions: string[], entities: number) {
  return startWaymark(
    [
      "run",
      MODULE,
      "--store",
      url,
      "--partitions",
      partitions.join(","),
      "--concurrency",
      String(partitions.length),
      "--quiet",
    ],
    { env: { QUOTA_API: api.url, ENTITIES: String(entities) } },
  );
}

function partitionsOf(process: number): string[] {
  return Array.from({ length: 4 }, (_, run) => `p${process}-${run}`);
}

/** Calls per 200 ms from the first, to read a failure by. */
function timeline(api: FakeApi): string {
  const first = Math.min(...api.requests.map((r) => r.at));
  const counts = new Map<number, number>();
  for (const r of api.requests) {
    const slot = Math.floor((r.at - first) / 200) * 200;
    counts.set(slot, (counts.get(slot) ?? 0) + 1);
  }
  return [...counts].map(([at, n]) => `${at}ms:${n}`).join(" ");
}

/** The calls that got a 200, as `partition/id`, each once. */
function served(requests: readonly ApiRequest[]): Set<string> {
  return new Set(requests.filter((r) => r.status === 200).map((r) => `${r.partition}/${r.id}`));
}

for (const store of stores) {
  describe(`a quota shared by 4 processes x 4 runs through waymark run: ${store.name}`, {
    skip: store.skip,
    timeout: 60_000,
  }, () => {
    const opened: Array<{ drop(): Promise<void> }> = [];
    after(async () => {
      for (const s of opened) await s.drop();
    });

    it("never exceeds the limit beyond the burst, and no call reaches the API during a Retry-After pause", async () => {
      const shared = store.open();
      opened.push(shared);
      // The 120th call is refused with Retry-After: 1 (and any call over 60 in one second).
      const api = await startFakeApi({ limit: LIMIT + BURST, retryAfterSeconds: 1, refuse: 120 });
      try {
        const processes = [0, 1, 2, 3].map((p) => runProcess(shared.url, api, partitionsOf(p), 15));
        const results = await Promise.all(processes.map((p) => p.exited));
        for (const result of results) assert.equal(result.code, 0, result.stderr);
        assert.equal(served(api.requests).size, 4 * 4 * 15, "every call was served once");
        const times = api.requests.map((r) => r.at);
        const most = mostInWindow(times, 1000);
        assert.ok(most <= LIMIT + BURST, `${most} calls in one second: ${timeline(api)}`);
        assert.equal(api.refusals.length, 1, "only the refusal the test asked for");
        for (const refusal of api.refusals) {
          const during = api.requests.filter(
            (r) => r.at > refusal.at + PAUSE_SLACK_MS && r.at < refusal.at + refusal.retryAfterMs,
          );
          assert.deepEqual(during, [], "no call while the key is paused");
        }
      } finally {
        await api.close();
      }
    });

    it("SIGKILL of a process holding a token lease: the others carry on, losing one lease at most", async () => {
      const shared = store.open();
      opened.push(shared);
      const api = await startFakeApi({ limit: LIMIT + BURST, retryAfterSeconds: 1 });
      try {
        const survivors = [0, 1, 2].map((p) => runProcess(shared.url, api, partitionsOf(p), 30));
        const victim = runProcess(shared.url, api, ["victim"], 200);
        // Once every process calls the API, kill the victim as its next call arrives: its run
        // is mid-batch, the rest of its lease reserved.
        const pids = () => new Set(api.requests.map((r) => r.pid));
        await api.next(() => pids().size === 4);
        const pid = victim.child.pid as number;
        await api.next((r) => r.pid === pid);
        victim.child.kill("SIGKILL");
        const killedAt = performance.now();
        const results: CliResult[] = await Promise.all(survivors.map((p) => p.exited));
        for (const result of results) assert.equal(result.code, 0, result.stderr);
        assert.equal((await victim.exited).code, null, "the victim was killed");
        // The others delivered as much in the 2 s after the kill as in the 2 s before it (or
        // the limit), less one lease at the most (4 batches of 5 tokens) and a little for timers.
        const count = (from: number, to: number) =>
          api.requests.filter((r) => r.at > from && r.at <= to).length;
        const before = count(killedAt - 2000, killedAt);
        const after2s = count(killedAt, killedAt + 2000);
        assert.ok(
          after2s >= Math.min(before, 2 * LIMIT) - 20 - 10,
          `${after2s} calls in the 2 s after the kill at ${killedAt}, ${before} in the 2 s ` +
            `before: ${timeline(api)}`,
        );
        const most = mostInWindow(
          api.requests.map((r) => r.at),
          1000,
        );
        assert.ok(most <= LIMIT + BURST, `${most} calls in one second: ${timeline(api)}`);
        assert.ok(served(api.requests).size >= 3 * 4 * 30, "every survivor call was served");
      } finally {
        await api.close();
      }
    });
  });
}

describe("a Retry-After past the time budget", () => {
  it("suspends the run, exit 75, rate-limited: a pause is not a failure", async () => {
    const dir = mkdtempSync(join(tmpdir(), "waymark-quota-"));
    // Every call refused, and told to come back in a minute.
    const api = await startFakeApi({ limit: 0, retryAfterSeconds: 60 });
    try {
      const cli = startWaymark(
        [
          "run",
          MODULE,
          "--store",
          `sqlite:${join(dir, "waymark.db")}`,
          "--partition",
          "2024-01-15",
          "--time-budget",
          "20s",
        ],
        { env: { QUOTA_API: api.url, ENTITIES: "15" } },
      );
      const result = await cli.exited;
      assert.equal(result.code, 75, result.stderr);
      assert.match(result.stdout, /suspended\s+2024-01-15\s+rate-limited at 0\/15/);
      assert.equal(api.requests.length, 1, "no call after the 429");
      // Neither the minute nor the 20 s budget is waited out: the backfill is out of time.
      assert.ok(result.elapsedMs < 10_000, `it ended after ${Math.round(result.elapsedMs)} ms`);
    } finally {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
