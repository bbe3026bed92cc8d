/**
 * What a codec must know about a state before saving it: the first part it would not give
 * back as it was, and the objects whose null prototype it must restore after decoding.
 *
 * Both walks visit objects in the order of {@link eachChild} (node:v8's each object once, as it
 * keeps shared objects; JSON's at each place, as it saves a copy at each); the ordinals in
 * `nullPrototypes` count objects in that order, so that state-shape.ts finds the same objects
 * again in the decoded state.
 */
export interface StateScan {
  /** The path and what the codec would do (`state.m: a Map (JSON saves {})`), or null. */
  readonly loss: string | null;
  /** The walk ordinals of the objects with a null prototype. */
  readonly nullPrototypes: readonly number[];
}

/** One step of a path: a property, an index, or into a Map (its key or value) or a Set. */
type Step = string | number | symbol | { readonly into: "key" | "value" | "member"; key?: unknown };

/** The walk of one scan: where it is, what it has seen, and the null prototypes found. */
class Walk {
  readonly steps: Step[] = [];
  /** The objects seen so far, by node:v8's walk. */
  readonly seen = new Set<object>();
  /** The objects the JSON walk is inside of, to find a cycle. */
  readonly ancestors: object[] = [];
  readonly nullPrototypes: number[] = [];
  #objects = 0;

  /** Counts an object newly reached, noting its ordinal when its prototype is null. */
  count(prototype: object | null): void {
    const ordinal = this.#objects++;
    if (prototype === null) this.nullPrototypes.push(ordinal);
  }

  /** `what` at the current path: `state.a[2]: NaN (JSON saves null)`. */
  at(what: string): string {
    return `${pathText(this.steps)}: ${what}`;
  }
}

/**
 * The first part of a state that JSON would not give back as it was (what
 * `JSON.parse(JSON.stringify(state))` would change, drop or split), and its null-prototype
 * objects, which JSON keeps as plain objects and the codec restores.
 */
export function scanForJson(state: unknown): StateScan {
  const walk = new Walk();
  return { loss: jsonLoss(state, walk), nullPrototypes: walk.nullPrototypes };
}

function jsonLoss(value: unknown, walk: Walk): string | null {
  switch (typeof value) {
    case "string":
    case "boolean":
      return null;
    case "number":
      if (Number.isNaN(value)) return walk.at("NaN (JSON saves null)");
      if (!Number.isFinite(value)) return walk.at(`${value} (JSON saves null)`);
      if (Object.is(value, -0)) return walk.at("-0 (JSON saves 0)");
      return null;
    case "undefined":
      return walk.at("undefined (JSON drops it, or saves null in an array)");
    case "function":
      return walk.at("a function (JSON drops it)");
    case "symbol":
      return walk.at("a symbol (JSON drops it)");
    case "bigint":
      return walk.at("a BigInt (JSON cannot save it)");
  }
  if (value === null) return null;
  const object = value as object;
  // One object at two places is saved twice (two copies); only a cycle is looked for, since
  // remembering every object would cost more than saving them.
  if (walk.ancestors.includes(object)) return walk.at("a cycle (JSON cannot save it)");
  const prototype = Object.getPrototypeOf(object);
  const isArray = Array.isArray(object);
  const plain = isArray
    ? prototype === Array.prototype
    : prototype === Object.prototype || prototype === null;
  if (!plain) return walk.at(describeInstance(object, "JSON"));
  walk.count(prototype);
  walk.ancestors.push(object);
  const loss = isArray
    ? jsonArrayLoss(object as unknown[], walk)
    : propertiesLoss(object, Object.keys(object), walk, jsonLoss, "JSON");
  walk.ancestors.pop();
  return loss;
}

function jsonArrayLoss(array: unknown[], walk: Walk): string | null {
  for (let i = 0; i < array.length; i++) {
    walk.steps.push(i);
    const loss =
      i in array ? jsonLoss(array[i], walk) : walk.at("a hole in a sparse array (JSON saves null)");
    walk.steps.pop();
    if (loss) return loss;
  }
  // Without holes, more keys than elements means a named property: `Object.keys` is the
  // cheapest way to tell (a non-enumerable one set on an array is not looked for).
  if (Object.keys(array).length !== array.length) {
    const named = Object.keys(array).find((key) => !isIndex(key)) as string;
    walk.steps.push(named);
    return walk.at("a named property of an array (JSON saves only the elements)");
  }
  const [symbol] = Object.getOwnPropertySymbols(array);
  if (symbol === undefined) return null;
  walk.steps.push(symbol);
  return walk.at("a symbol-keyed property (JSON drops it)");
}

/**
 * The first part of a state node:v8 would not give back as it was: a function, a symbol, an
 * instance of a class (v8 keeps its fields, not its prototype), a property v8 drops (symbol-keyed
 * or non-enumerable, or any on a Map, Set, Date or RegExp), and its null-prototype objects.
 * Cycles, `undefined`, `NaN`, `-0`, BigInt, Map, Set, Date and typed arrays are fine.
 */
export function scanForV8(state: unknown): StateScan {
  const walk = new Walk();
  return { loss: v8Loss(state, walk), nullPrototypes: walk.nullPrototypes };
}

function v8Loss(value: unknown, walk: Walk): string | null {
  if (typeof value === "function") return walk.at("a function (node:v8 cannot save it)");
  if (typeof value === "symbol") return walk.at("a symbol (node:v8 cannot save it)");
  if (typeof value !== "object" || value === null || walk.seen.has(value)) return null;
  walk.seen.add(value);
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== null && !V8_CLONEABLE.has(prototype)) {
    return walk.at(describeInstance(value, "node:v8"));
  }
  walk.count(prototype);
  if (value instanceof Map) {
    for (const [key, member] of value) {
      const loss =
        v8Inside(key, { into: "key", key }, walk) ?? v8Inside(member, { into: "value", key }, walk);
      if (loss) return loss;
    }
  } else if (value instanceof Set) {
    for (const member of value) {
      const loss = v8Inside(member, { into: "member" }, walk);
      if (loss) return loss;
    }
  }
  if (ArrayBuffer.isView(value)) {
    // Their elements are own properties too: listing them would cost as much as saving them,
    // so only symbol-keyed properties are looked for.
    return symbolLoss(value, walk, "node:v8");
  }
  const keys = Object.keys(value);
  if (!hasPlainProperties(value)) {
    if (keys.length === 0) return symbolLoss(value, walk, "node:v8");
    walk.steps.push(keys[0] as string);
    return walk.at(`a property of a ${prototype.constructor.name} (node:v8 drops it)`);
  }
  if (Array.isArray(value)) {
    // v8 keeps named properties on arrays, and holes.
    for (const key of keys) {
      walk.steps.push(isIndex(key) ? Number(key) : key);
      const loss = v8Loss((value as unknown as Record<string, unknown>)[key], walk);
      walk.steps.pop();
      if (loss) return loss;
    }
    return symbolLoss(value, walk, "node:v8");
  }
  return propertiesLoss(value, keys, walk, v8Loss, "node:v8");
}

function v8Inside(value: unknown, step: Step, walk: Walk): string | null {
  walk.steps.push(step);
  const loss = v8Loss(value, walk);
  walk.steps.pop();
  return loss;
}

/** Prototypes whose instances node:v8 gives back with the same prototype. */
const V8_CLONEABLE = new Set<object>([
  Object.prototype,
  Array.prototype,
  Map.prototype,
  Set.prototype,
  Date.prototype,
  RegExp.prototype,
  ArrayBuffer.prototype,
  DataView.prototype,
  // Node's serializer gives a Buffer back as a Buffer.
  Buffer.prototype,
  ...[
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
  ].map((type) => type.prototype),
]);

/** Whether the codecs keep the own properties of `object`: those of arrays and plain objects. */
function hasPlainProperties(object: object): boolean {
  return !(
    object instanceof Map ||
    object instanceof Set ||
    object instanceof Date ||
    object instanceof RegExp ||
    object instanceof ArrayBuffer
  );
}

/**
 * The properties of a plain object: each value, then the properties `keys` (its enumerable
 * string keys) leave out, which both codecs drop: non-enumerable and symbol-keyed ones.
 */
function propertiesLoss(
  object: object,
  keys: readonly string[],
  walk: Walk,
  valueLoss: (value: unknown, walk: Walk) => string | null,
  codec: string,
): string | null {
  for (const key of keys) {
    walk.steps.push(key);
    const loss = valueLoss((object as Record<string, unknown>)[key], walk);
    walk.steps.pop();
    if (loss) return loss;
  }
  const names = Object.getOwnPropertyNames(object);
  if (names.length !== keys.length) {
    walk.steps.push(names.find((name) => !keys.includes(name)) as string);
    return walk.at(`a non-enumerable property (${codec} drops it)`);
  }
  return symbolLoss(object, walk, codec);
}

function symbolLoss(object: object, walk: Walk, codec: string): string | null {
  const [symbol] = Object.getOwnPropertySymbols(object);
  if (symbol === undefined) return null;
  walk.steps.push(symbol);
  return walk.at(`a symbol-keyed property (${codec} drops it)`);
}

/** What a codec does to an object whose prototype it does not keep. */
function describeInstance(object: object, codec: "JSON" | "node:v8"): string {
  if (codec === "JSON") {
    if (object instanceof Map) return "a Map (JSON saves {})";
    if (object instanceof Set) return "a Set (JSON saves {})";
    if (object instanceof Date) return "a Date (JSON saves a string)";
    if (ArrayBuffer.isView(object)) {
      return `a ${object.constructor.name} (JSON saves an object of its indexes)`;
    }
  }
  const name = (object as { constructor?: { name?: string } }).constructor?.name;
  const what = name
    ? `an instance of ${name}`
    : Object.getPrototypeOf(object) === null
      ? "an array without a prototype"
      : "an object with a prototype";
  const saves = Array.isArray(object) ? "a plain array" : "a plain object";
  return `${what} (${codec} saves ${saves})`;
}

/**
 * The objects directly inside `object`, in the order both scans and the restoring walk visit
 * them: a Map's keys and values, a Set's members, the enumerable properties of an array or a
 * plain object (`Object.keys`, the order JSON and node:v8 write them in).
 */
export function eachChild(object: object, visit: (child: unknown) => void): void {
  if (object instanceof Map) {
    for (const [key, value] of object) {
      visit(key);
      visit(value);
    }
  } else if (object instanceof Set) {
    for (const member of object) visit(member);
  } else if (!ArrayBuffer.isView(object) && hasPlainProperties(object)) {
    for (const key of Object.keys(object)) visit((object as Record<string, unknown>)[key]);
  }
}

function isIndex(key: string): boolean {
  return /^(?:0|[1-9]\d*)$/.test(key);
}

/** `state.a[2]`, `state["a b"]`, `state[Symbol(id)]`, `state.m.get(k)`, `state.s member`. */
function pathText(steps: readonly Step[]): string {
  let path = "state";
  for (const step of steps) {
    if (typeof step === "number") path += `[${step}]`;
    else if (typeof step === "symbol") path += `[${String(step)}]`;
    else if (typeof step === "string") {
      path += /^[A-Za-z_$][\w$]*$/.test(step) ? `.${step}` : `[${JSON.stringify(step)}]`;
    } else if (step.into === "value") path += `.get(${String(step.key)})`;
    else path += ` ${step.into}`;
  }
  return path;
}
