import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { defineProcessor, run, SqliteStore, type SqliteTx } from "../../../src/index.js";

const CHILD = fileURLToPath(new URL("../../fixtures/hung-batch-child.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "waymark-hung-"));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Event {
  event: string;
  [key: string]: unknown;
}

/** A child running the hung processor; `next(name)` waits for its next event of that name. */
function start(file: string, mode: string) {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, file, mode], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const events: Event[] = [];
  const waiters: Array<() => void> = [];
  let buffer = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    buffer += chunk;
    const lines = buffer.split("\n");
    buffer = lines.pop() ?? "";
    for (const line of lines) events.push(JSON.parse(line) as Event);
    for (const wake of waiters.splice(0)) wake();
  });
  const exited = new Promise<{ code: number | null; signal: string | null; at: number }>(
    (resolve) => child.on("exit", (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  /** The first event called `name` after the first `after` event (if given). */
  const next = async (name: string, afterEvent?: string, timeoutMs = 20_000): Promise<Event> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const from = afterEvent ? events.findIndex((e) => e.event === afterEvent) : 0;
      const found = from < 0 ? undefined : events.slice(from).find((e) => e.event === name);
      if (found) return found;
      if (Date.now() > deadline || child.exitCode !== null) {
        throw new Error(`no ${name} event from the child; got ${JSON.stringify(events)}`);
      }
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 200).unref();
      });
    }
  };
  return { child, events, next, exited };
}

/** A second runner on the same file: must get the lease at once and finish from 10. */
async function takeOver(file: string) {
  const store = new SqliteStore(file);
  try {
    const seen: number[] = [];
    const result = await run(
      defineProcessor<number, undefined, SqliteTx>({
        name: "hung",
        batchSize: 10,
        entities: ({ after }) =>
          Array.from({ length: 30 }, (_, i) => i + 1).filter(
            (n) => after === null || n > Number(after),
          ),
        id: (n) => n,
        processBatch: (batch, ctx) => {
          seen.push(...batch);
          for (const n of batch) ctx.tx.run("INSERT INTO effects VALUES (?, 'second')", n);
        },
      }),
      { store, logger: false },
    );
    const rows = store.database.prepare("SELECT id, run FROM effects ORDER BY id").all() as Array<{
      id: number;
      run: string;
    }>;
    return { result, seen, rows };
  } finally {
    await store.close();
  }
}

function assertExactlyOnce(rows: Array<{ id: number; run: string }>): void {
  assert.deepEqual(
    rows.map((r) => r.id),
    Array.from({ length: 30 }, (_, i) => i + 1),
    "every entity written once",
  );
  assert.ok(
    rows.filter((r) => r.id <= 10).every((r) => r.run === "first"),
    "the first batch came from the hung run",
  );
  assert.ok(
    rows.filter((r) => r.id > 10).every((r) => r.run === "second"),
    "nothing of the hung batch was committed",
  );
}

function stop(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

/**
 * SIGTERM asks the hung run to stop (grace: a minute); `second` then ends the process at once
 * with the conventional exit code.
 */
async function secondSignalEndsAtOnce(
  name: string,
  second: NodeJS.Signals,
  code: number,
): Promise<void> {
  const { child, next, exited } = start(join(dir, name), "double-signal");
  try {
    await next("in-batch");
    child.kill("SIGTERM");
    await next("sigterm");
    assert.equal(child.exitCode, null, "the first SIGTERM did not end the process");
    const secondAt = Date.now();
    child.kill(second);
    const exit = await exited;
    assert.equal(exit.code, code);
    assert.ok(exit.at - secondAt < 1000, `exited ${exit.at - secondAt} ms after ${second}`);
  } finally {
    stop(child);
  }
}

describe("a processBatch that never settles", () => {
  it("ends the run at the deadline: suspended, lease released, late ctx.tx writes refused", async () => {
    const file = join(dir, "deadline.db");
    const { child, next, events } = start(file, "deadline");
    try {
      const result = await next("result");
      assert.equal(result.status, "suspended");
      assert.equal(result.reason, "deadline");
      assert.equal(result.completed, 10);
      const lateBy = (result.resolvedAt as number) - ((result.startedAt as number) + 1500);
      assert.ok(lateBy < 1000, `run() resolved ${lateBy} ms after the deadline`);
      assert.equal(result.listeners, 0);
      const late = await next("late-write", "result");
      assert.equal(late.refused, true, "a write after the deadline is refused");
      // The process is still alive (the hung batch keeps it so), yet the partition is free.
      assert.equal(child.exitCode, null);
      const second = await takeOver(file);
      assert.equal(second.result.status, "completed");
      assert.equal(second.result.resumedFrom, 10);
      assert.deepEqual(second.seen[0], 11);
      assertExactlyOnce(second.rows);
      const afterResult = events.slice(events.findIndex((e) => e.event === "result"));
      assert.ok(afterResult.every((e) => e.event !== "late-write" || e.refused === true));
    } finally {
      stop(child);
    }
  });

  it("ends the run shutdownGraceMs after SIGTERM and frees the partition", async () => {
    const file = join(dir, "signal.db");
    const { child, next } = start(file, "signal");
    try {
      await next("in-batch");
      const signalledAt = Date.now();
      child.kill("SIGTERM");
      const result = await next("result");
      assert.equal(result.status, "suspended");
      assert.equal(result.reason, "signal");
      assert.equal(result.completed, 10);
      const took = (result.resolvedAt as number) - signalledAt;
      assert.ok(took >= 450, `resolved ${took} ms after SIGTERM, before the 500 ms grace`);
      assert.ok(took < 500 + 1000, `resolved ${took} ms after SIGTERM (grace 500 ms)`);
      assert.ok((result.abortedAt as number) > 0, "ctx.signal aborted at the end of the grace");
      assert.equal(result.listeners, 0, "the run removed its SIGTERM listener");
      assert.equal((await next("late-write", "result")).refused, true);
      const second = await takeOver(file);
      assert.equal(second.result.status, "completed");
      assert.equal(second.result.resumedFrom, 10);
      assertExactlyOnce(second.rows);
    } finally {
      stop(child);
    }
  });

  it("exits at once on a second SIGTERM, with exit code 143", () =>
    secondSignalEndsAtOnce("double.db", "SIGTERM", 143));

  it("exits at once on a SIGINT after a SIGTERM, with exit code 130", () =>
    secondSignalEndsAtOnce("term-then-int.db", "SIGINT", 130));
});
