import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  defineProcessor,
  InvalidOptionError,
  MemoryStore,
  openStore,
  type ProcessorDefinition,
  run,
} from "../../src/index.js";

const valid: ProcessorDefinition<{ id: number }> = {
  name: "players",
  entities: () => [{ id: 1 }],
  id: (e) => e.id,
  processBatch: async () => {},
};

function rejects(overrides: Record<string, unknown>, option: string, value: RegExp) {
  assert.throws(
    () => defineProcessor({ ...valid, ...overrides } as ProcessorDefinition<{ id: number }>),
    (error: unknown) => {
      assert.ok(error instanceof InvalidOptionError, String(error));
      assert.equal(error.code, "INVALID_OPTION");
      assert.equal(error.option, option);
      assert.match(error.message, new RegExp(`\`${option}\``));
      assert.match(error.message, value);
      return true;
    },
  );
}

describe("processor options", () => {
  it("accepts a valid definition and fills defaults", () => {
    const p = defineProcessor(valid);
    assert.equal(p.batchSize, 50);
    assert.equal(p.version, 1);
    assert.equal(p.expiryMs, 86_400_000);
    assert.equal(p.maxStateBytes, 1_048_576);
    assert.equal(p.onVersionMismatch, "restart");
    assert.ok(Object.isFrozen(p));
    assert.equal(defineProcessor({ ...valid, batchSize: undefined }).batchSize, 50);
  });

  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ["an empty name", { name: "" }, "name", /got "" \(string\)/],
    ["a name with surrounding spaces", { name: " x " }, "name", /got " x " \(string\)/],
    ["a name with a newline", { name: "a\nb" }, "name", /no control characters/],
    ["a numeric name", { name: 7 }, "name", /got 7 \(number\)/],
    ["batchSize 0", { batchSize: 0 }, "batchSize", /from 1 and up.*got 0 \(number\)/],
    ["batchSize 1.5", { batchSize: 1.5 }, "batchSize", /got 1\.5 \(number\)/],
    ["batchSize as a string", { batchSize: "50" }, "batchSize", /got "50" \(string\)/],
    ["a negative expiry", { expiryMs: -1 }, "expiryMs", /got -1 \(number\)/],
    ["a missing entities", { entities: undefined }, "entities", /it is missing/],
    ["a missing processBatch", { processBatch: undefined }, "processBatch", /it is missing/],
    ["a missing id", { id: undefined }, "id", /expected a function/],
    ["version 0", { version: 0 }, "version", /got 0 \(number\)/],
    [
      "a bad mismatch policy",
      { onVersionMismatch: "ignore" },
      "onVersionMismatch",
      /"restart" or "fail"/,
    ],
    [
      "a misspelt option",
      { batchsize: 10 },
      "batchsize",
      /Unknown processor "[^"]+" option `batchsize`/,
    ],
    [
      "a misspelt nested option",
      { batchSize: { adaptive: { targetOverhed: 0.01 } } },
      "batchSize.adaptive.targetOverhed",
      /Unknown processor "[^"]+" option `batchSize.adaptive.targetOverhed`/,
    ],
  ];
  for (const [label, overrides, option, value] of cases) {
    it(`rejects ${label}`, () => rejects(overrides, option, value));
  }
});

describe("run options", () => {
  const processor = defineProcessor(valid);
  it("rejects a missing store, a bad partition and a bad logger", async () => {
    await assert.rejects(run(processor, {} as never), /`store`: expected a store/);
    await assert.rejects(
      run(processor, { store: new MemoryStore(), partition: "" }),
      /`partition`.*got "" \(string\)/,
    );
    await assert.rejects(
      run(processor, { store: new MemoryStore(), logger: console.log as never }),
      /`logger`: expected false or an object with debug, info, warn and error methods/,
    );
  });

  it("rejects an unknown store URL, naming the accepted forms", async () => {
    await assert.rejects(openStore("mysql://x"), (e: Error & { code?: string }) => {
      assert.equal(e.code, "INVALID_STORE_URL");
      assert.match(e.message, /sqlite:PATH/);
      return true;
    });
    await assert.rejects(openStore("sqlite:"), { code: "INVALID_STORE_URL" });
  });
});
