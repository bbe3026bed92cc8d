import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { writesDebug } from "../../src/core/logger.js";
import {
  consoleLogger,
  defineProcessor,
  InvalidOptionError,
  jsonLogger,
  MemoryStore,
  run,
  silentLogger,
} from "../../src/index.js";
import { noBackoff, until } from "../support/time.js";

const LOG_RUN = fileURLToPath(new URL("../fixtures/log-run.ts", import.meta.url));

/** Runs the log-run fixture with `env` added; its stdout, stderr and exit status. */
function logRun(env: NodeJS.ProcessEnv) {
  const clean = { ...process.env };
  delete clean.WAYMARK_LOG;
  delete clean.WAYMARK_DEBUG;
  return spawnSync(process.execPath, ["--import", "tsx", LOG_RUN], {
    encoding: "utf8",
    env: { ...clean, ...env },
  });
}

interface JsonLine {
  level: string;
  time: string;
  message: string;
  processor?: string;
  partition?: string;
  runId?: string;
}

describe("logging", () => {
  it("jsonLogger: one object per line with level, time, message and the run's fields", async () => {
    const lines: string[] = [];
    const at = Date.UTC(2024, 0, 15, 6);
    const logger = jsonLogger({ level: "debug", write: (line) => lines.push(line), now: () => at });
    const store = new MemoryStore();
    let failed = false;
    const result = await run(
      defineProcessor<number>({
        name: "json-logged",
        batchSize: 5,
        retry: { attempts: 1 },
        entities: () => Array.from({ length: 12 }, (_, i) => i + 1),
        id: (n) => n,
        // The heartbeat renews every third of the lease: the first batch waits to see it.
        leaseTtlMs: 1000,
        processBatch: async (batch, ctx) => {
          ctx.log.info("my own line for %d entities", batch.length);
          if (ctx.batchNumber === 1) {
            await until("a lease renewal", () =>
              lines.some((l) => l.includes("Renewed the lease")),
            );
          }
          if (ctx.batchNumber === 2 && !failed) {
            failed = true;
            throw new Error("flaky");
          }
        },
      }),
      { store, partition: "2024-01-15", logger, sleep: noBackoff },
    );
    assert.equal(result.status, "completed");
    assert.ok(lines.every((line) => line.endsWith("\n") && !line.slice(0, -1).includes("\n")));
    const parsed = lines.map((line) => JSON.parse(line) as JsonLine);
    const runIds = new Set(parsed.map((l) => l.runId));
    assert.equal(runIds.size, 1, "every line names the one run");
    assert.match([...runIds][0] ?? "", /^[0-9a-f-]{36}$/);
    for (const line of parsed) {
      assert.equal(line.time, "2024-01-15T06:00:00.000Z");
      assert.equal(line.processor, "json-logged");
      assert.equal(line.partition, "2024-01-15");
    }
    const messages = (level: string) =>
      parsed.filter((l) => l.level === level).map((l) => l.message);
    assert.deepEqual(
      messages("info").filter((m) => m.startsWith("my own")),
      [
        "my own line for 5 entities",
        "my own line for 5 entities",
        "my own line for 5 entities",
        "my own line for 2 entities",
      ],
      "ctx.log carries the run's fields too",
    );
    assert.match(
      messages("warn").join("\n"),
      /Batch 2 of json-logged\/2024-01-15 failed \(attempt 1 of 2\): flaky\. Retrying in \d+ ms\./,
    );
    const debug = messages("debug").join("\n");
    assert.match(
      debug,
      /Acquired the lease of json-logged\/2024-01-15 as .+ \(fence 1, attempt 1\)/,
    );
    assert.equal(
      debug.match(
        /Committed batch \d+ of json-logged\/2024-01-15: \d+ entities to cursor \d+, \d+\/12 complete, in \d+\.\d ms\./g,
      )?.length,
      3,
    );
    assert.match(messages("info").join("\n"), /Completed json-logged\/2024-01-15/);
    assert.match(
      debug,
      /Renewed the lease of json-logged\/2024-01-15 \(fence 1\) for 1000 ms in [\d.]+ ms\./,
    );
  });

  it("jsonLogger leaves out lines below its level, and says why a batch is not retried", async () => {
    const lines: string[] = [];
    const result = await run(
      defineProcessor<number>({
        name: "permanent",
        retry: { attempts: 3, retryable: () => false },
        entities: () => [1, 2, 3],
        id: (n) => n,
        processBatch: () => {
          throw new TypeError("bad row");
        },
      }),
      {
        store: new MemoryStore(),
        logger: jsonLogger({ level: "debug", write: (line) => lines.push(line) }),
      },
    );
    assert.equal(result.status, "failed");
    const text = lines.join("");
    assert.match(
      text,
      /Batch 1 of permanent\/default failed \(attempt 1 of 4\): bad row\. Not retried: retryable\(\) said it is permanent\./,
    );
    const infoOnly: string[] = [];
    jsonLogger({ level: "warn", write: (line) => infoOnly.push(line) }).info("hidden");
    assert.deepEqual(infoOnly, []);
  });

  it("the default logger writes to stderr only: text, JSON with WAYMARK_LOG=json, debug with WAYMARK_DEBUG=1", () => {
    const text = logRun({});
    assert.equal(text.status, 0, text.stderr);
    assert.deepEqual(JSON.parse(text.stdout), { status: "suspended", processed: 30 });
    assert.match(text.stderr, /^\[waymark\] Batch 2 of logged\/p1 failed \(attempt 1 of 2\)/m);
    assert.match(text.stderr, /^\[waymark\] Suspended logged\/p1 at 30\/50/m);
    assert.doesNotMatch(text.stderr, /Committed batch/, "no debug lines unless asked for");

    const debug = logRun({ WAYMARK_DEBUG: "1" });
    assert.equal(debug.stdout, text.stdout);
    for (const line of [
      /^\[waymark\] Acquired the lease of logged\/p1/m,
      /^\[waymark\] Committed batch 1 of logged\/p1: 10 entities to cursor 10, 10\/50 complete, in [\d.]+ ms\.$/m,
      /^\[waymark\] Committed batch 3 of logged\/p1/m,
      /^\[waymark\] Stopping logged\/p1 before the next batch \(signal\): a stop was requested\.$/m,
    ]) {
      assert.match(debug.stderr, line);
    }

    const json = logRun({ WAYMARK_LOG: "json", WAYMARK_DEBUG: "1" });
    assert.equal(json.stdout, text.stdout);
    const parsed = json.stderr
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as JsonLine);
    assert.ok(parsed.length >= 7, `7 lines or more, got ${parsed.length}:\n${json.stderr}`);
    for (const line of parsed) {
      assert.ok(["debug", "info", "warn", "error"].includes(line.level));
      assert.equal(Number.isNaN(Date.parse(line.time)), false);
      assert.equal(line.processor, "logged");
      assert.equal(line.partition, "p1");
      assert.match(line.runId ?? "", /^[0-9a-f-]{36}$/);
    }
    assert.ok(parsed.some((l) => l.level === "debug" && l.message.startsWith("Committed batch 1")));
  });

  it("a logger of one's own gets every debug line; waymark's own say when they drop them", async () => {
    const debug: string[] = [];
    const own = { debug: (m: string) => debug.push(m), info() {}, warn() {}, error() {} };
    const result = await run(
      defineProcessor<number>({
        name: "own-logger",
        batchSize: 2,
        entities: () => [1, 2, 3],
        id: (n) => n,
        processBatch() {},
      }),
      { store: new MemoryStore(), logger: own },
    );
    assert.equal(result.status, "completed");
    assert.equal(
      debug.filter((m) => m.startsWith("Committed batch")).length,
      2,
      `a commit line per batch, got:\n${debug.join("\n")}`,
    );
    assert.equal(writesDebug(own), true, "a logger of one's own decides for itself");
    assert.equal(writesDebug(silentLogger), false, "the silent logger drops every line");
    assert.equal(writesDebug(jsonLogger({ level: "info" })), false, "below its level");
    assert.equal(writesDebug(jsonLogger({ level: "debug" }).child?.({ a: 1 }) ?? own), true);
    const saved = process.env.WAYMARK_DEBUG;
    try {
      delete process.env.WAYMARK_DEBUG;
      assert.equal(writesDebug(consoleLogger), false, "no WAYMARK_DEBUG, no debug lines");
      process.env.WAYMARK_DEBUG = "1";
      assert.equal(writesDebug(consoleLogger), true, "WAYMARK_DEBUG is read at each line");
    } finally {
      if (saved === undefined) delete process.env.WAYMARK_DEBUG;
      else process.env.WAYMARK_DEBUG = saved;
    }
  });

  it("refuses a WAYMARK_LOG that names no format, saying which ones exist", async () => {
    const saved = process.env.WAYMARK_LOG;
    process.env.WAYMARK_LOG = "xml";
    try {
      await assert.rejects(
        run(
          defineProcessor({
            name: "x",
            entities: () => [1],
            id: (n: number) => n,
            processBatch() {},
          }),
          {
            store: new MemoryStore(),
          },
        ),
        (error: unknown) =>
          error instanceof InvalidOptionError &&
          error.option === "WAYMARK_LOG" &&
          /WAYMARK_LOG="xml": expected "json"/.test(error.message),
      );
    } finally {
      if (saved === undefined) delete process.env.WAYMARK_LOG;
      else process.env.WAYMARK_LOG = saved;
    }
  });
});
