import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { z } from "zod";
import {
  defineProcessor,
  type FileRecord,
  fromFile,
  InvalidOptionError,
  MemoryStore,
  type Processor,
  run,
  type WaymarkError,
} from "../../src/index.js";
import { seeded } from "../support/random.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "waymark-file-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs to completion through runs that fail at random batches; the committed values, in order. */
async function runWithRandomStops<T>(
  processor: (fail: () => boolean) => Processor<FileRecord<T>>,
  seed: number,
): Promise<{ values: T[]; runs: number }> {
  const random = seeded(seed);
  const store = new MemoryStore();
  const values: T[] = [];
  let runs = 0;
  const failing = () => runs < 15 && random() < 0.2;
  const definition = processor(failing);
  for (;;) {
    const result = await run(
      defineProcessor({
        ...definition,
        processBatch(batch, ctx) {
          if (failing()) throw new Error("a random stop");
          values.push(...batch.map((r) => r.value));
          return definition.processBatch(batch, ctx);
        },
      }),
      { store, partition: "p", logger: false },
    );
    runs++;
    if (result.status === "completed") return { values, runs };
    assert.match(result.error?.message ?? "", /a random stop/, result.error?.message);
  }
}

const customers = Array.from({ length: 240 }, (_, i) => ({
  id: i + 1,
  name: i % 7 === 0 ? `Zoë "${i}", the ünïcode` : `customer ${i + 1}`,
  tags: i % 5 === 0 ? [] : ["a", "b"],
}));

function ndjson(): string {
  // A byte order mark, CRLF and LF endings, blank lines, and no newline after the last line.
  return `\uFEFF${customers
    .map((c, i) => JSON.stringify(c) + (i % 3 === 0 ? "\r\n" : "\n") + (i % 50 === 0 ? "\n" : ""))
    .join("")
    .trimEnd()}`;
}

function csv(): string {
  const quote = (s: string) => `"${s.replaceAll('"', '""')}"`;
  const lines = customers.map((c) => `${c.id},${quote(c.name)},${quote(c.tags.join("\n"))}`);
  return `\uFEFFid,name,tags\n${lines.join("\n")}\n`;
}

describe("fromFile", () => {
  for (const [format, text, gzip] of [
    ["ndjson", ndjson, false],
    ["ndjson", ndjson, true],
    ["csv", csv, false],
    ["csv", csv, true],
  ] as const) {
    it(`reads every ${format}${gzip ? ".gz" : ""} record exactly once, in order, across random stops`, async () => {
      const path = join(dir, `customers.${format}${gzip ? ".gz" : ""}`);
      writeFileSync(path, gzip ? gzipSync(text()) : text());
      const { values, runs } = await runWithRandomStops(
        () =>
          defineProcessor({
            name: "customers",
            batchSize: 7,
            retry: false,
            ...fromFile<unknown>(path),
            processBatch() {},
          }),
        format.length + (gzip ? 1 : 0),
      );
      const expected =
        format === "ndjson"
          ? customers
          : customers.map((c) => ({ id: String(c.id), name: c.name, tags: c.tags.join("\n") }));
      assert.deepEqual(values, expected);
      assert.ok(runs > 3, `stopped and resumed (${runs} runs)`);
    });
  }

  it("gives every NDJSON record its exact bytes, in chunks of plain ASCII and of UTF-8 alike", async () => {
    // About six 64 KiB chunks: the first and last hold only ASCII, the middle ones also
    // two-, three- and four-byte characters; CRLF endings, blank lines, no final newline.
    const rows = Array.from({ length: 6000 }, (_, i) => ({
      id: i + 1,
      name: i >= 2500 && i < 3200 && i % 3 === 0 ? `Zoë ü € 🙂 ${i}` : `customer number ${i + 1}`,
    }));
    const text = rows
      .map(
        (r, i) => JSON.stringify(r) + (i % 4 === 0 ? "\r\n" : "\n") + (i % 997 === 0 ? "\n" : ""),
      )
      .join("")
      .trimEnd();
    const path = join(dir, "mixed.ndjson");
    writeFileSync(path, text);
    const bytes = Buffer.from(text);
    const records: FileRecord<unknown>[] = [];
    const { values } = await runWithRandomStops(
      () =>
        defineProcessor({
          name: "mixed",
          batchSize: 97,
          retry: false,
          ...fromFile<unknown>(path),
          processBatch(batch) {
            records.push(...batch);
          },
        }),
      11,
    );
    assert.deepEqual(values, rows);
    assert.equal(records.length, rows.length);
    assert.equal(records[0]?.start, 0);
    assert.equal(records.at(-1)?.end, bytes.length);
    records.forEach((record, i) => {
      const own = bytes.subarray(record.start, record.end).toString("utf8");
      assert.deepEqual(JSON.parse(own), rows[i], `record ${i}'s bytes hold it`);
      const gap = bytes.subarray(records[i - 1]?.end ?? 0, record.start).toString("utf8");
      assert.match(gap, /^\s*$/, `only blank lines before record ${i}`);
    });
  });

  it("resumes by seeking: the bytes before the cursor are never read again", async () => {
    const path = join(dir, "events.ndjson");
    writeFileSync(path, customers.map((c) => `${JSON.stringify(c)}\n`).join(""));
    const store = new MemoryStore();
    const seen: number[] = [];
    let stopAt: number | null = 100;
    const processor = defineProcessor({
      name: "events",
      batchSize: 10,
      retry: false,
      // The test overwrites the prefix in place, which changes the mtime: carry on anyway.
      onDrift: "continue",
      ...fromFile(path, { decode: z.object({ id: z.number() }) }),
      processBatch(batch) {
        if (stopAt !== null && batch.some((r) => r.value.id > stopAt!)) throw new Error("stop");
        seen.push(...batch.map((r) => r.value.id));
      },
    });
    const first = await run(processor, { store, partition: "p", logger: false });
    assert.equal(first.status, "failed");
    assert.equal(first.completed, 100);
    // Garble every byte before the cursor (the size stays): a reader that re-read them would fail.
    const cursor = first.cursor as number;
    const fd = openSync(path, "r+");
    writeSync(fd, Buffer.alloc(cursor, "#"), 0, cursor, 0);
    closeSync(fd);
    stopAt = null;
    const second = await run(processor, { store, partition: "p", logger: false });
    assert.equal(second.status, "completed", second.error?.message);
    assert.equal(second.resumedFrom, 100);
    assert.deepEqual(
      seen,
      customers.map((c) => c.id),
    );
  });

  it("treats a file changed since the checkpoint as input drift", async () => {
    const path = join(dir, "drift.ndjson");
    const write = (count: number) =>
      writeFileSync(
        path,
        customers
          .slice(0, count)
          .map((c) => `${JSON.stringify(c)}\n`)
          .join(""),
      );
    write(100);
    const store = new MemoryStore();
    let stop = true;
    const make = (onDrift: "restart" | "fail") =>
      defineProcessor({
        name: "drift",
        batchSize: 10,
        retry: false,
        onDrift,
        ...fromFile(path),
        processBatch(batch) {
          if (stop && batch.some((r) => (r.value as { id: number }).id > 50))
            throw new Error("stop");
        },
      });
    assert.equal((await run(make("fail"), { store, partition: "p", logger: false })).completed, 50);
    write(120);
    stop = false;
    const failed = await run(make("fail"), { store, partition: "p", logger: false });
    assert.equal(failed.status, "failed");
    assert.equal((failed.error as WaymarkError).code, "INPUT_DRIFT");
    const restarted = await run(make("restart"), { store, partition: "p", logger: false });
    assert.equal(restarted.status, "completed");
    assert.equal(restarted.resumedFrom, null, "the changed file is read from its start");
    assert.equal(restarted.processed, 120);
  });

  it("stops at a line that is not JSON, naming its byte offset, after committing the lines before it", async () => {
    const path = join(dir, "bad.ndjson");
    const good = '{"id":1}\n{"id":2}\n';
    writeFileSync(path, `${good}{"id":3,\n{"id":4}\n`);
    const processor = defineProcessor({
      name: "bad",
      batchSize: 1,
      retry: false,
      ...fromFile(path),
      processBatch() {},
    });
    const result = await run(processor, {
      store: new MemoryStore(),
      partition: "p",
      logger: false,
    });
    assert.equal(result.status, "failed");
    assert.equal(result.completed, 2);
    assert.equal((result.error as WaymarkError).code, "INVALID_ENTITY");
    assert.match(
      result.error?.message ?? "",
      new RegExp(`the line at byte ${good.length} is not JSON`),
    );
  });

  it("stops at a bad CSV record, or one decode rejects, after committing the records before it", async () => {
    const path = join(dir, "bad.csv");
    // All in one chunk: csv-parse fails the chunk's whole write at the bad row.
    const good = "id,name\n1,x\n2,y\n";
    writeFileSync(path, `${good}3,z,EXTRA\n4,w\n`);
    const runIt = async (decode?: (row: { id: string }) => { id: string }) => {
      const committed: string[] = [];
      const processor = defineProcessor({
        name: "bad-csv",
        batchSize: 1,
        retry: false,
        ...fromFile<{ id: string }>(path, decode ? { decode } : {}),
        processBatch(batch) {
          committed.push(...batch.map((r) => r.value.id));
        },
      });
      const result = await run(processor, {
        store: new MemoryStore(),
        partition: "p",
        logger: false,
      });
      return { result, committed };
    };
    const bad = await runIt();
    assert.equal(bad.result.status, "failed");
    assert.equal((bad.result.error as WaymarkError).code, "INVALID_ENTITY");
    assert.match(bad.result.error?.message ?? "", /is not valid CSV/);
    assert.deepEqual(bad.committed, ["1", "2"]);
    assert.equal(bad.result.completed, 2);
    const rejected = await runIt((row) => {
      if (row.id === "2") throw new Error("no 2");
      return row;
    });
    assert.equal((rejected.result.error as WaymarkError).code, "INVALID_ENTITY");
    assert.deepEqual(rejected.committed, ["1"]);
  });

  it("reads a .tsv file as tab-separated", async () => {
    const path = join(dir, "scores.tsv");
    writeFileSync(path, "id\tnote\n1\ta, b\n2\tc\n");
    const values: unknown[] = [];
    const processor = defineProcessor({
      name: "tsv",
      ...fromFile(path),
      processBatch(batch) {
        values.push(...batch.map((r) => r.value));
      },
    });
    const result = await run(processor, {
      store: new MemoryStore(),
      partition: "p",
      logger: false,
    });
    assert.equal(result.status, "completed");
    assert.deepEqual(values, [
      { id: "1", note: "a, b" },
      { id: "2", note: "c" },
    ]);
  });

  it("names the file it cannot read, and the options it cannot use", async () => {
    const missing = join(dir, "missing.ndjson");
    const processor = defineProcessor({
      name: "missing",
      ...fromFile(({ partition }) => join(dir, `${partition}.ndjson`)),
      processBatch() {},
    });
    const result = await run(processor, {
      store: new MemoryStore(),
      partition: "missing",
      logger: false,
    });
    assert.equal((result.error as WaymarkError).code, "SOURCE_FAILED");
    assert.ok(result.error?.message.includes(`fromFile(${missing}): cannot read the file`));
    assert.throws(
      () => fromFile("x.ndjson", { format: "xml" as never }),
      (e: unknown) =>
        e instanceof InvalidOptionError && /`format`: expected "ndjson" or "csv"/.test(e.message),
    );
    assert.throws(() => fromFile(""), /fromFile expects a file path/);
    const csvFails = (csv: object, option: string, message: RegExp) =>
      assert.throws(
        () => fromFile("x.csv", { csv } as never),
        (e: unknown) =>
          e instanceof InvalidOptionError && e.option === option && message.test(e.message),
      );
    csvFails({ delimeter: ";" }, "csv.delimeter", /Unknown fromFile option `csv.delimeter`/);
    csvFails({ delimiter: 5 }, "csv.delimiter", /`csv.delimiter`: expected a non-empty string/);
    csvFails({ trim: "yes" }, "csv.trim", /`csv.trim`: expected true or false/);
  });

  it("reads a CSV without a header through given column names, and casts with csv-parse", async () => {
    const path = join(dir, "scores.csv");
    writeFileSync(path, "1;10\n2;20\n3;30\n");
    const source = fromFile(path, {
      csv: { columns: ["id", "score"], delimiter: ";", cast: true },
      decode: z.object({ id: z.number(), score: z.number() }),
    });
    const read = async (after: number | null) => {
      const out: number[] = [];
      const records = (await source.entities({ partition: "p", after })) as AsyncIterable<
        FileRecord<{ id: number; score: number }>
      >;
      for await (const r of records) out.push(r.value.score);
      return out;
    };
    assert.deepEqual(await read(null), [10, 20, 30]);
    assert.deepEqual(await read(5), [20, 30]);
  });
});
