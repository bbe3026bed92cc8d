// The built-in state codecs give back exactly what they accept, or refuse it with
// STATE_NOT_SERIALIZABLE naming the path: checked on seeded random states (prototypes,
// property kinds and shared objects compared, not only values) and on the cases a user hits.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StateError } from "../../src/core/errors.js";
import { jsonStateCodec, type StateCodec, v8StateCodec } from "../../src/core/state-codecs.js";
import { seeded } from "../support/random.js";

const CODECS: Array<[string, StateCodec<unknown>]> = [
  ["json", jsonStateCodec as StateCodec<unknown>],
  ["v8", v8StateCodec as StateCodec<unknown>],
];

/**
 * Whether `b` is `a` exactly: the same primitives (`Object.is`), prototypes, own property keys
 * (symbols and non-enumerable ones included) with the same enumerability, Map, Set, Date and
 * typed array contents, and the same sharing (an object at two places in `a` is one object at
 * the same two places in `b`). Returns where they differ, or null.
 */
function differs(
  a: unknown,
  b: unknown,
  path = "state",
  pairs = new Map<object, object>(),
): string | null {
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) {
    return Object.is(a, b) ? null : `${path}: ${String(a)} became ${String(b)}`;
  }
  const paired = pairs.get(a);
  if (paired !== undefined) return paired === b ? null : `${path}: sharing differs`;
  pairs.set(a, b);
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return `${path}: prototype differs`;
  if (a instanceof Date) return a.getTime() === (b as Date).getTime() ? null : `${path}: date`;
  if (ArrayBuffer.isView(a)) {
    return Buffer.compare(
      Buffer.from(a.buffer, a.byteOffset, a.byteLength),
      Buffer.from(
        (b as Uint8Array).buffer,
        (b as Uint8Array).byteOffset,
        (b as Uint8Array).byteLength,
      ),
    ) === 0
      ? null
      : `${path}: elements`;
  }
  if (a instanceof Map) {
    const bEntries = [...(b as Map<unknown, unknown>)];
    const aEntries = [...a];
    if (aEntries.length !== bEntries.length) return `${path}: map size`;
    for (const [i, [k, v]] of aEntries.entries()) {
      const [bk, bv] = bEntries[i] as [unknown, unknown];
      const diff =
        differs(k, bk, `${path} key`, pairs) ?? differs(v, bv, `${path}.get(${String(k)})`, pairs);
      if (diff) return diff;
    }
    return null;
  }
  if (a instanceof Set) {
    const bMembers = [...(b as Set<unknown>)];
    return [...a].reduce<string | null>(
      (found, m, i) => found ?? differs(m, bMembers[i], `${path} member`, pairs),
      a.size === bMembers.length ? null : `${path}: set size`,
    );
  }
  const aKeys = Reflect.ownKeys(a);
  const bKeys = Reflect.ownKeys(b);
  if (aKeys.length !== bKeys.length || aKeys.some((k, i) => k !== bKeys[i])) {
    return `${path}: keys ${aKeys.map(String)} became ${bKeys.map(String)}`;
  }
  for (const key of aKeys) {
    const da = Object.getOwnPropertyDescriptor(a, key) as PropertyDescriptor;
    const db = Object.getOwnPropertyDescriptor(b, key) as PropertyDescriptor;
    if (da.enumerable !== db.enumerable) return `${path}.${String(key)}: enumerability`;
    const diff = differs(da.value, db.value, `${path}.${String(key)}`, pairs);
    if (diff) return diff;
  }
  return null;
}

/** A random state built from what the codec is asked to keep; `lossy` adds what it must refuse. */
function randomState(random: () => number, codec: string, lossy: boolean): unknown {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const created: object[] = [];
  const words = ["a", "constructor", "__proto__", "toString", "b c", "\u0000", "\ud800", "7"];
  const leaf = (): unknown =>
    pick([
      () => Math.floor(random() * 1000) - 500,
      () => random(),
      () => pick(words),
      () => random() < 0.5,
      () => null,
      ...(codec === "v8"
        ? [
            () => undefined,
            () => Number.NaN,
            () => -0,
            () => 10n,
            () => new Date(1_700_000_000_000),
          ]
        : []),
    ])();
  const node = (depth: number): unknown => {
    if (depth > 3 || random() < 0.3) return leaf();
    const kinds = ["object", "array", "null-prototype"];
    // JSON keeps no sharing: an object found at two places comes back as two copies.
    if (codec === "v8") kinds.push("map", "set", "typed", "shared");
    const kind = pick(kinds);
    const size = Math.floor(random() * 4);
    let made: object;
    if (kind === "shared" && created.length > 0) return pick(created);
    if (kind === "array") made = Array.from({ length: size }, () => node(depth + 1));
    else if (kind === "map")
      made = new Map(Array.from({ length: size }, () => [pick(words), node(depth + 1)]));
    else if (kind === "set") made = new Set(Array.from({ length: size }, () => node(depth + 1)));
    else if (kind === "typed") made = Float64Array.from({ length: size }, () => random());
    else {
      const object: Record<string, unknown> = kind === "null-prototype" ? Object.create(null) : {};
      for (let i = 0; i < size; i++) object[pick(words)] = node(depth + 1);
      made = object;
    }
    created.push(made);
    return made;
  };
  const state = { root: node(0), more: node(1) };
  if (lossy) {
    // Not looked for, since listing the elements would cost as much as saving them: a
    // non-enumerable property of an array, Map or Set, a named property of a typed array.
    const plain = created.filter(
      (o) => Object.getPrototypeOf(o) === null || o.constructor === Object,
    );
    const anyObject = created.filter((o) => !ArrayBuffer.isView(o));
    const arrays = created.filter((o) => Array.isArray(o));
    pick([
      () => Object.defineProperty(pick([state, ...plain]), "hidden", { value: 1 }),
      () => Object.assign(pick([state, ...anyObject]), { [Symbol("tag")]: 1 }),
      () => Object.assign(pick([state, ...plain]), { f: () => 1 }),
      () =>
        codec === "json" && arrays.length > 0
          ? Object.assign(pick(arrays), { total: 1 })
          : Object.assign(state, { g: () => 1 }),
    ])();
  }
  return state;
}

describe("state codecs give back exactly what they accept, or refuse it", () => {
  for (const [name, codec] of CODECS) {
    it(`${name}: 2,000 random states round-trip exactly or are refused, naming the path`, () => {
      const random = seeded(21);
      let kept = 0;
      let refused = 0;
      for (let i = 0; i < 2000; i++) {
        const lossy = random() < 0.3;
        const state = randomState(random, name, lossy);
        let text: string;
        try {
          text = codec.encode(state);
        } catch (error) {
          assert.ok(error instanceof StateError, String(error));
          assert.equal(error.code, "STATE_NOT_SERIALIZABLE");
          assert.match(error.message, /^state\S*[ :]/, "the message starts with the path");
          refused++;
          continue;
        }
        const diff = differs(state, codec.decode(text));
        assert.equal(diff, null, `state ${i} came back changed: ${diff}\n${text}`);
        kept++;
      }
      assert.ok(kept > 1000 && refused > 200, `${kept} kept, ${refused} refused`);
    });
  }

  const refusals: Array<[string, string, () => unknown, RegExp]> = [
    [
      "json",
      "a named property of an array",
      () => ({ a: Object.assign([1, 2], { total: 3 }) }),
      /^state\.a\.total: a named property of an array/,
    ],
    [
      "json",
      "a symbol-keyed property",
      () => ({ a: { [Symbol("id")]: 1 } }),
      /^state\.a\[Symbol\(id\)\]: a symbol-keyed property/,
    ],
    [
      "json",
      "a symbol-keyed property of an array",
      () => [Object.assign([1], { [Symbol("id")]: 1 })],
      /^state\[0\]\[Symbol\(id\)\]: a symbol-keyed/,
    ],
    [
      "json",
      "a non-enumerable property",
      () => ({ a: Object.defineProperty({}, "hidden", { value: 1 }) }),
      /^state\.a\.hidden: a non-enumerable property/,
    ],
    [
      "json",
      "a subclass of Array",
      () => ({ a: new (class Row extends Array {})() }),
      /^state\.a: an instance of Row \(JSON saves a plain array\)/,
    ],
    [
      "v8",
      "a symbol-keyed property",
      () => ({ a: { [Symbol("id")]: 1 } }),
      /^state\.a\[Symbol\(id\)\]: a symbol-keyed property \(node:v8 drops it\)/,
    ],
    [
      "v8",
      "a non-enumerable property",
      () => ({ a: Object.defineProperty({}, "hidden", { value: 1 }) }),
      /^state\.a\.hidden: a non-enumerable property/,
    ],
    [
      "v8",
      "a property of a Map",
      () => ({ m: Object.assign(new Map(), { size2: 1 }) }),
      /^state\.m\.size2: a property of a Map/,
    ],
    [
      "v8",
      "a class instance",
      () => ({
        p: new (class Point {
          x = 1;
        })(),
      }),
      /^state\.p: an instance of Point/,
    ],
    [
      "v8",
      "a subclass of Map",
      () => ({ m: new (class Registry extends Map {})() }),
      /^state\.m: an instance of Registry/,
    ],
    [
      "v8",
      "a subclass of a typed array",
      () => ({ w: new (class Weights extends Float64Array {})(2) }),
      /^state\.w: an instance of Weights/,
    ],
    [
      "v8",
      "a function in a Map",
      () => ({ m: new Map([["k", () => 1]]) }),
      /^state\.m\.get\(k\): a function/,
    ],
  ];
  for (const [name, what, state, message] of refusals) {
    it(`${name}: refuses ${what}, naming the path`, () => {
      const codec = name === "json" ? jsonStateCodec : v8StateCodec;
      assert.throws(
        () => codec.encode(state() as never),
        (error: StateError) => {
          assert.equal(error.code, "STATE_NOT_SERIALIZABLE");
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }

  for (const [name, codec] of CODECS) {
    it(`${name}: a null-prototype word count comes back without a prototype, nested too`, () => {
      const counts = Object.assign(Object.create(null), { constructor: 2, toString: 1 });
      const nested = Object.assign(Object.create(null), { inner: Object.create(null) });
      const state = { counts, list: [nested], plain: { a: 1 } };
      const back = codec.decode(codec.encode(state)) as typeof state;
      assert.equal(Object.getPrototypeOf(back.counts), null);
      assert.equal(Object.getPrototypeOf(back.list[0]), null);
      assert.equal(Object.getPrototypeOf(back.list[0].inner), null);
      assert.equal(Object.getPrototypeOf(back.plain), Object.prototype);
      assert.equal("hasOwnProperty" in back.counts, false);
      assert.equal(differs(state, back), null);
    });

    it(`${name}: a state shaped like the envelope is never taken for one`, () => {
      const state = { "waymark:nullPrototypes": [0], state: "mine" };
      assert.equal(differs(state, codec.decode(codec.encode(state))), null);
    });
  }

  it("json: a plain state is saved as plain JSON text, as before", () => {
    assert.equal(jsonStateCodec.encode({ a: [1, "x"] } as never), '{"a":[1,"x"]}');
    assert.deepEqual(jsonStateCodec.decode('{"a":[1,"x"]}'), { a: [1, "x"] });
  });
});
