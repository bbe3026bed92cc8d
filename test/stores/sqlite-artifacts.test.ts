import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { defineProcessor, run, SqliteStore } from "../../src/index.js";
import { noBackoff } from "../support/time.js";

const CHILD = fileURLToPath(new URL("../fixtures/artifact-child.ts", import.meta.url));

/** Runs the artifact child to its end; resolves with its signal and output. */
function child(mode: string, db: string): Promise<{ signal: string | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ["--import", "tsx", CHILD, mode, db], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    proc.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    proc.on("error", reject);
    proc.on("close", (_code, signal) => resolve({ signal, stdout }));
  });
}

describe("artifacts in a SQLite file", () => {
  let dir: string;
  let db: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-artifacts-"));
    db = join(dir, "waymark.db");
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  for (const mode of ["during-put", "after-put"]) {
    it(`keeps the previous version when the runner is killed ${mode.replace("-", " ")}`, async () => {
      const { signal } = await child(mode, db);
      assert.equal(signal, "SIGKILL");
      const store = new SqliteStore(db);
      try {
        const blobs = () =>
          (
            store.database.prepare("SELECT COUNT(*) AS n FROM artifact_blobs").get() as {
              n: number;
            }
          ).n;
        assert.equal(blobs(), 2, "the committed blob and the killed run's unreferenced one");
        let resumedWith: string | undefined;
        const result = await run(
          defineProcessor({
            name: "crashing-artifact",
            batchSize: 1,
            entities: ({ after }) => [1, 2, 3].filter((n) => n > (after as number)),
            id: (n: number) => n,
            processBatch: async (_batch, ctx) => {
              resumedWith ??= (await ctx.artifacts.getBuffer("model"))?.toString();
            },
          }),
          // The killed runner's lease is still live; take it over once it would have expired.
          { store, logger: false, now: () => Date.now() + 31_000 },
        );
        assert.equal(result.status, "completed");
        assert.equal(result.resumedFrom, 1);
        assert.equal(resumedWith, "v1");
        assert.equal(blobs(), 0, "the orphan is collected and completion clears the rest");
      } finally {
        await store.close();
      }
    });
  }

  it("detects a chunk changed in the database and refuses to resume", async () => {
    const store = new SqliteStore(db);
    try {
      const processor = (fail: boolean) =>
        defineProcessor({
          name: "model",
          batchSize: 1,
          entities: ({ after }) => [1, 2, 3].filter((n) => after === null || n > (after as number)),
          id: (n: number) => n,
          processBatch: async ([n], ctx) => {
            if (n === 1) await ctx.artifacts.put("weights", Buffer.alloc(3 << 20, "w"));
            if (n === 2 && fail) throw new Error("interrupted");
          },
        });
      await run(processor(true), { store, logger: false, sleep: noBackoff });
      // Swap one byte of a chunk's stored (compressed) data for another value.
      const changes = store.database
        .prepare(
          `UPDATE artifact_chunks SET data = substr(data, 1, 20) || X'5A' || substr(data, 22)
           WHERE seq = 1`,
        )
        .run().changes;
      assert.equal(changes, 1);
      let ran = false;
      const refused = await run(
        defineProcessor({
          ...processor(false),
          processBatch: () => {
            ran = true;
          },
        }),
        { store, logger: false },
      );
      assert.equal(refused.status, "failed");
      assert.equal((refused.error as { code?: string }).code, "CORRUPT_CHECKPOINT");
      assert.match(refused.error?.message ?? "", /artifact "weights" of model\/default is corrupt/);
      assert.match(refused.error?.message ?? "", /waymark reset model default/);
      assert.equal(ran, false, "no batch ran on top of the corrupt checkpoint");
      assert.equal(
        (await store.getCheckpoint({ processor: "model", partition: "default", shard: "" }))
          ?.cursor,
        1,
      );
    } finally {
      await store.close();
    }
  });

  it("writes and reads back a 200 MB artifact with memory growth under twice its size", async () => {
    const { stdout } = await child("memory", db);
    const figures = JSON.parse(stdout) as {
      status: string;
      size: number;
      same: boolean;
      growth: number;
    };
    assert.equal(figures.status, "completed");
    assert.equal(figures.size, 200 * 1024 * 1024);
    assert.ok(figures.same, "the bytes read back hash like the bytes written");
    assert.ok(
      figures.growth < 2 * figures.size,
      `peak RSS grew ${figures.growth} bytes for a ${figures.size}-byte artifact`,
    );
  });
});
