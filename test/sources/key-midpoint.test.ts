import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { keyBetween, textBetween } from "../../src/sources/key-midpoint.js";
import { seeded } from "../support/random.js";

/** Compares two strings by code point, as `COLLATE "C"` and SQLite's BINARY do. */
function byCodePoint(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0) as number);
  const y = Array.from(b, (c) => c.codePointAt(0) as number);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
  }
  return x.length - y.length;
}

describe("the midpoint a split probe seeks from", () => {
  it("halves text keys by their characters' classes, not all of Unicode", () => {
    assert.equal(textBetween("2024-01-01", "2024-12-31").slice(0, 10), "2024-07-16");
    assert.equal(textBetween("user-0001", "user-1000"), "user-0556");
    assert.equal(textBetween("apple", "zebra"), "mxioc");
    assert.equal(textBetween("98b0b3b1", "ffce6be6")[0], "c", "hex: the middle of 9 … f is c");
    assert.equal(textBetween("a", "b").slice(0, 2), "am", "past both strings, a digit more");
    assert.equal(textBetween("abc", "abc"), "abc");
  });

  it("stays between the two strings, in code point order", () => {
    const random = seeded(7);
    const alphabet = ["a", "z", "A", "0", "9", "-", " ", "é", "Ω", "😀", "~"];
    const text = () =>
      Array.from(
        { length: Math.floor(random() * 10) },
        () => alphabet[Math.floor(random() * alphabet.length)],
      ).join("");
    for (let i = 0; i < 2000; i++) {
      const [a, b] = [text(), text()].sort(byCodePoint) as [string, string];
      const middle = textBetween(a, b);
      assert.ok(byCodePoint(a, middle) <= 0 && byCodePoint(middle, b) <= 0, `${a} ${middle} ${b}`);
      assert.ok(!middle.includes("\u0000"), "PostgreSQL text holds no NUL");
    }
  });

  it("halves integers, days and uuids in their own terms, and a composite key's first difference", () => {
    assert.deepEqual(keyBetween([-7], [10], ["integer"]), [1]);
    assert.deepEqual(keyBetween(["2024-01-01"], ["2024-12-31"], ["date"]), ["2024-07-01"]);
    assert.deepEqual(
      keyBetween(
        ["00000000-0000-0000-0000-000000000000"],
        ["ffffffff-ffff-ffff-ffff-fffffffffffe"],
        ["uuid"],
      ),
      ["7fffffff-ffff-ffff-ffff-ffffffffffff"],
    );
    assert.deepEqual(keyBetween([1, 5], [1, 100], ["auto", "auto"]), [1, 52]);
    assert.deepEqual(keyBetween([1, 5], [3, 1], ["auto", "auto"]), [2]);
    assert.deepEqual(keyBetween(["x", 5], ["x", "y"], ["auto", "auto"]), ["x", 5]);
    assert.equal(keyBetween([4], [5], ["integer"])?.[0], 4, "the guess may be low itself");
    assert.deepEqual(keyBetween(["a"], ["a0"], ["text"]), ["a"], "nothing else lies between");
    assert.equal(keyBetween([7], [7], ["integer"]), null);
  });
});
