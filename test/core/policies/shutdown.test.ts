import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { defineProcessor, run, SqliteStore, type SqliteTx } from "../../../src/index.js";

const CHILD = fileURLToPath(new URL("../../fixtures/signal-child.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "waymark-shutdown-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Starts the child, sends SIGTERM once it is inside batch 4, and returns its result. */
async function terminateMidBatch(file: string, mode: "finish" | "hang") {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, file, mode], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  let signalledAt = 0;
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
    if (!signalledAt && out.includes("in-batch\n")) {
      signalledAt = Date.now();
      child.kill("SIGTERM");
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  const exitedAfterMs = Date.now() - signalledAt;
  const last = out.trim().split("\n").at(-1) ?? "";
  return { code, exitedAfterMs, result: JSON.parse(last) as Record<string, unknown> };
}

async function resume(file: string) {
  const store = new SqliteStore(file);
  try {
    const checkpoint = await store.getCheckpoint({
      processor: "graceful",
      partition: "default",
      shard: "",
    });
    const seen: number[] = [];
    const result = await run(
      defineProcessor<number, undefined, SqliteTx>({
        name: "graceful",
        batchSize: 10,
        entities: () => Array.from({ length: 100 }, (_, i) => i + 1),
        id: (n) => n,
        processBatch: (batch, ctx) => {
          seen.push(...batch);
          for (const n of batch) {
            ctx.tx.run("UPDATE effects SET writes = writes + 1 WHERE id = ?", n);
            ctx.tx.run("INSERT OR IGNORE INTO effects VALUES (?, 1)", n);
          }
        },
      }),
      { store, logger: false },
    );
    const writes = store.database.prepare("SELECT id, writes FROM effects").all() as Array<{
      writes: number;
    }>;
    return { checkpoint, result, seen, writes };
  } finally {
    await store.close();
  }
}

describe("graceful shutdown", () => {
  it("finishes the batch in flight on SIGTERM, commits, releases the lease, resumes after it", async () => {
    const file = join(dir, "finish.db");
    const { code, exitedAfterMs, result } = await terminateMidBatch(file, "finish");
    assert.equal(code, 0);
    assert.ok(exitedAfterMs < 300 + 2000, `exited ${exitedAfterMs} ms after SIGTERM`);
    assert.equal(result.status, "suspended");
    assert.equal(result.reason, "signal");
    assert.equal(result.completed, 40, "the batch in flight was committed");
    assert.equal(result.listeners, 1, "the runner removed its SIGTERM listener");
    const next = await resume(file);
    assert.equal(next.checkpoint?.leaseOwner, null, "lease released");
    assert.equal(next.checkpoint?.cursor, 40);
    assert.equal(next.result.resumedFrom, 40);
    assert.equal(next.seen[0], 41);
    assert.equal(next.writes.length, 100);
    assert.ok(
      next.writes.every((w) => w.writes === 1),
      "every entity written once",
    );
  });

  it("aborts a batch that outlasts shutdownGraceMs and does not commit it", async () => {
    const file = join(dir, "hang.db");
    const { code, exitedAfterMs, result } = await terminateMidBatch(file, "hang");
    assert.equal(code, 0);
    assert.ok(exitedAfterMs >= 300, `exited ${exitedAfterMs} ms after SIGTERM, before the grace`);
    assert.ok(exitedAfterMs < 300 + 2000, `exited ${exitedAfterMs} ms after SIGTERM`);
    assert.equal(result.status, "suspended");
    assert.equal(result.reason, "signal");
    assert.equal(result.completed, 30);
    const next = await resume(file);
    assert.equal(next.checkpoint?.leaseOwner, null);
    assert.equal(next.result.resumedFrom, 30);
    assert.equal(next.seen[0], 31);
    assert.ok(
      next.writes.every((w) => w.writes === 1),
      "the aborted batch wrote nothing",
    );
  });
});
