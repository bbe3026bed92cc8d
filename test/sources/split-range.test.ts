import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromRange } from "../../src/index.js";
import { seeded } from "../support/random.js";
import { checkSplits } from "./split-contract.js";

describe("fromRange's split points", () => {
  it("cut the rest in two at an integer of the range, resumable on both sides", async () => {
    const random = seeded(19);
    for (const step of [1, 3, 7]) {
      for (const minimum of [0, 1, 4, 25]) {
        const to = -50 + step * (200 + Math.floor(random() * 400));
        const splits = await checkSplits({
          source: fromRange({ from: -50, to, step }),
          partition: "p",
          random,
          rounds: 40,
          minimum,
          splits: (size) => size >= Math.max(2, 2 * minimum),
          least: (size) => Math.max(minimum, Math.floor(size / 3)),
        });
        assert.ok(splits > 2, `step ${step}, minimum ${minimum}: ${splits} splits`);
      }
    }
  });

  it("splits between the integers a shard's bounds name, and not a range too small", async () => {
    const source = fromRange(({ partition }) => ({ from: 1, to: Number(partition), step: 2 }));
    const split = (after: number | null, to: number | null, minimum = 1) =>
      source.split?.({ partition: "20", after, to, minimum, signal: new AbortController().signal });
    assert.equal(await split(null, null), 9, "1, 3, …, 19: the first half ends at 9");
    assert.equal(await split(2.5, 16), 7, "3 … 15: the holder keeps 3, 5, 7");
    assert.equal(await split(16, null), 17, "17 and 19: one each");
    assert.equal(await split(16, null, 2), null, "two integers cannot keep two each");
    assert.equal(await split(17, null), null, "one integer is left");
    assert.equal(await split(19, null), null, "the range is exhausted");
    assert.equal(await split(-10, 2), null, "one integer below the bound");
  });
});
