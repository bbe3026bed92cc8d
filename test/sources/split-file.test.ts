import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { type FileOptions, fromFile } from "../../src/index.js";
import { seeded } from "../support/random.js";
import { checkSplits, idsOf } from "./split-contract.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "waymark-split-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A file in this test's directory. */
function file(name: string, text: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Random text of up to `length` characters, some of them UTF-8 of two to four bytes. */
function words(random: () => number, length: number, alphabet = "abc xyz,;é€😀"): string {
  const characters = Array.from(alphabet);
  return Array.from(
    { length: Math.floor(random() * length) },
    () => characters[Math.floor(random() * characters.length)],
  ).join("");
}

/** Runs the split contract over a file source with a few `minimum`s. */
async function contract(path: string, options: FileOptions<unknown>, seed: number) {
  const random = seeded(seed);
  const source = fromFile(path, options);
  let splits = 0;
  for (const minimum of [1, 3, 8]) {
    splits += await checkSplits({
      source,
      partition: "p",
      random,
      rounds: 30,
      minimum,
      // The size is estimated from the lines around the middle: held to only at the ends.
      splits: (size) => (size <= 1 ? false : size >= 8 * minimum + 16 ? true : undefined),
      least: (size) => (size >= 32 ? Math.floor(size * 0.2) : 1),
    });
  }
  assert.ok(splits > 20, `${splits} splits`);
}

/** One CSV field: plain, or quoted with delimiters, doubled quotes and line ends inside. */
function csvField(random: () => number, eol: string): string {
  const r = random();
  if (r < 0.4) return words(random, 12, "abcxyz019 é");
  if (r < 0.8)
    return `"${words(random, 30, 'ab,c "x\n;é').replaceAll('"', '""').replaceAll("\n", eol)}"`;
  // Lines inside a quote that look like records of their own, with no quote to tell.
  const lines = Array.from({ length: 1 + Math.floor(random() * 6) }, (_, i) => `${i},2,x`);
  return `"${lines.join(eol)}${eol}"`;
}

describe("fromFile's split points", () => {
  for (const eol of ["\n", "\r\n"]) {
    const name = eol === "\n" ? "LF" : "CRLF";

    it(`NDJSON (${name}): a record boundary near the middle of the unread bytes`, async () => {
      const random = seeded(41);
      const lines = Array.from({ length: 700 }, (_, id) =>
        JSON.stringify({ id, text: words(random, 200) }),
      );
      // The last line may lack its line end.
      const path = file("records.ndjson", `${lines.join(eol)}${random() < 0.5 ? eol : ""}`);
      await contract(path, {}, 1);
    });

    it(`CSV (${name}): only a line end outside quotes, whatever the middle lands in`, async () => {
      const random = seeded(42);
      const rows = Array.from(
        { length: 500 },
        (_, id) => `${id},${csvField(random, eol)},${csvField(random, eol)}`,
      );
      const path = file("records.csv", `id,name,note${eol}${rows.join(eol)}${eol}`);
      await contract(path, {}, 2);
      const noHeader = file("bare.csv", `${rows.join(eol)}${eol}`);
      await contract(noHeader, { csv: { columns: false } }, 3);
    });
  }

  it("CSV without a quote in it: the quoting state is read from the holder's position", async () => {
    const random = seeded(43);
    const rows = Array.from({ length: 600 }, (_, i) => `${i},${Math.floor(random() * 1e9)}`);
    const path = file("numbers.csv", `n,value\n${rows.join("\n")}\n`);
    await contract(path, {}, 4);
    const tsv = file("numbers.tsv", `n\tvalue\n${rows.join("\n").replaceAll(",", "\t")}\n`);
    await contract(tsv, { csv: { quote: false } }, 5);
  });

  it("is null where a boundary cannot be told for certain, or the rest is too small", async () => {
    const split = (path: string, options: FileOptions<unknown> = {}, after: number | null = null) =>
      fromFile(path, options).split?.({
        partition: "p",
        after,
        to: null,
        minimum: 1,
        signal: new AbortController().signal,
      });
    const rows = Array.from({ length: 200 }, (_, i) => `${i},"a ""${i}"""`);
    const csv = `id,name\n${rows.join("\n")}\n`;
    const plain = file("plain.csv", csv);
    assert.ok(typeof (await split(plain)) === "number", "the same file splits as it is");
    assert.equal(await split(file("packed.csv.gz", gzipSync(csv))), null, "gzip cannot seek");
    assert.equal(await split(plain, { csv: { relax_quotes: true } }), null, "relaxed quotes");
    assert.equal(await split(plain, { csv: { comment: "#" } }), null, "a comment may hold a quote");
    assert.equal(
      await split(plain, { csv: { escape: "\\" } }),
      null,
      "an escape that is not a quote",
    );
    assert.equal(
      await split(file("mac.csv", csv.replaceAll("\n", "\r"))),
      null,
      "lone CR line ends",
    );
    const ndjson = file("two.ndjson", '{"n":1}\n{"n":2}\n');
    assert.equal(await split(ndjson), 8, "two records: one each");
    assert.equal(await split(ndjson, {}, 8), null, "one record left");
    assert.equal(await split(ndjson, {}, 16), null, "nothing left");
    assert.equal(await split(file("one.ndjson", '{"n":1}')), null, "a single record");
    const [, second] = (await idsOf(fromFile(plain), "p", { after: null, to: null })) as number[];
    const point = await split(plain, {}, second ?? 0);
    assert.ok(typeof point === "number" && point > (second ?? 0), "after the holder's position");
  });
});
