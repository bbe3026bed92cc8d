// An invalid processor definition is reported at the user's call: the error names the
// processor and its stack starts at the line that called defineProcessor (or run), not inside
// waymark's own files.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { defineProcessor, InvalidOptionError, MemoryStore, run } from "../../src/index.js";
import { waymark } from "../cli/cli.js";

const HERE = fileURLToPath(import.meta.url);
const BAD = fileURLToPath(new URL("../fixtures/bad-processor.ts", import.meta.url));

/** Where this file calls defineProcessor with the bad definition: `line:column`. */
function theCall(): string {
  const lines = readFileSync(HERE, "utf8").split("\n");
  const marker = ["defineProcessor(definition),", "// the call"].join(" ");
  const line = lines.findIndex((text) => text.includes(marker));
  return `${line + 1}:${(lines[line] ?? "").indexOf("defineProcessor(") + 1}`;
}

/** Whether the error names the processor, and its message and stack point at the call. */
function pointsHere(error: unknown): boolean {
  assert.ok(error instanceof InvalidOptionError);
  assert.match(
    error.message,
    /^Invalid processor "summaries" option `batchSize`: .*got 0 \(number\)\./,
  );
  const at = `${HERE}:${theCall()}`;
  assert.ok(error.message.endsWith(`(defineProcessor called at ${at})`), error.message);
  const firstFrame = error.stack?.split("\n")[1] ?? "";
  assert.ok(firstFrame.includes(at), firstFrame);
  return true;
}

const definition = {
  name: "summaries",
  batchSize: 0,
  entities: () => [1, 2, 3],
  id: (n: number) => n,
  processBatch() {},
};

describe("an invalid processor definition", () => {
  it("names the processor and points at the defineProcessor call", () => {
    assert.throws(
      () => defineProcessor(definition), // the call
      (error) => pointsHere(error),
    );
  });

  it("through waymark run, names the module's line", async () => {
    const out = await waymark(["run", BAD, "--partition", "p", "--store", "memory:"]);
    assert.equal(out.code, 2, out.stderr);
    assert.match(out.stderr, /Invalid processor "summaries" option `batchSize`/);
    assert.ok(out.stderr.includes(`(defineProcessor called at ${BAD}:5:23)`), out.stderr);
    assert.doesNotMatch(out.stderr, /src\/core|dist\/core/);
  });

  it("passed to run() undefined, still names the processor", async () => {
    await assert.rejects(
      run(definition as never, { store: new MemoryStore() }),
      (error: unknown) =>
        error instanceof InvalidOptionError && /processor "summaries"/.test(error.message),
    );
  });
});
