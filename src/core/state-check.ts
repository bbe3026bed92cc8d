/**
 * Finds the first part of a state that JSON would not give back as it was: what
 * `JSON.parse(JSON.stringify(state))` would change or drop. Returns its path and why
 * (`state.m: a Map (JSON saves {})`), or null when the state round-trips.
 */
export function jsonLossAt(state: unknown): string | null {
  return lossAt(state, "state", []);
}

function lossAt(value: unknown, path: string, ancestors: object[]): string | null {
  switch (typeof value) {
    case "string":
    case "boolean":
      return null;
    case "number":
      if (Number.isNaN(value)) return `${path}: NaN (JSON saves null)`;
      if (!Number.isFinite(value)) return `${path}: ${value} (JSON saves null)`;
      if (Object.is(value, -0)) return `${path}: -0 (JSON saves 0)`;
      return null;
    case "undefined":
      return `${path}: undefined (JSON drops it, or saves null in an array)`;
    case "function":
      return `${path}: a function (JSON drops it)`;
    case "symbol":
      return `${path}: a symbol (JSON drops it)`;
    case "bigint":
      return `${path}: a BigInt (JSON cannot save it)`;
  }
  if (value === null) return null;
  const object = value as object;
  if (ancestors.includes(object)) return `${path}: a cycle (JSON cannot save it)`;
  if (Array.isArray(object)) {
    ancestors.push(object);
    for (let i = 0; i < object.length; i++) {
      if (!(i in object)) return `${path}[${i}]: a hole in a sparse array (JSON saves null)`;
      const loss = lossAt(object[i], `${path}[${i}]`, ancestors);
      if (loss) return loss;
    }
    ancestors.pop();
    return null;
  }
  const prototype = Object.getPrototypeOf(object);
  if (prototype !== Object.prototype && prototype !== null) {
    return `${path}: ${describeInstance(object)}`;
  }
  ancestors.push(object);
  for (const key of Object.keys(object)) {
    const loss = lossAt((object as Record<string, unknown>)[key], member(path, key), ancestors);
    if (loss) return loss;
  }
  ancestors.pop();
  return null;
}

/** What JSON does to an object that is not plain. */
function describeInstance(object: object): string {
  if (object instanceof Map) return "a Map (JSON saves {})";
  if (object instanceof Set) return "a Set (JSON saves {})";
  if (object instanceof Date) return "a Date (JSON saves a string)";
  if (ArrayBuffer.isView(object)) {
    return `a ${object.constructor.name} (JSON saves an object of its indexes)`;
  }
  const name = (object as { constructor?: { name?: string } }).constructor?.name;
  return `${name ? `an instance of ${name}` : "an object with a prototype"} (JSON saves a plain object)`;
}

/** `state.a`, or `state["a b"]` for a key that is no identifier. */
function member(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** Prototypes whose instances node:v8 gives back as they were. */
const V8_CLONEABLE = [
  Object.prototype,
  Array.prototype,
  Map.prototype,
  Set.prototype,
  Date.prototype,
  RegExp.prototype,
  ArrayBuffer.prototype,
  DataView.prototype,
  Object.getPrototypeOf(Int8Array.prototype),
];

/**
 * The first part of a state node:v8 would not give back as it was: a function, a symbol, an
 * instance of a class (v8 keeps its fields, not its prototype); null when it round-trips.
 * Cycles, `undefined`, `NaN`, `-0`, BigInt, Map, Set, Date and typed arrays are fine.
 */
export function v8LossAt(state: unknown): string | null {
  return v8Loss(state, "state", new Set());
}

function v8Loss(value: unknown, path: string, seen: Set<object>): string | null {
  if (typeof value === "function") return `${path}: a function (node:v8 cannot save it)`;
  if (typeof value === "symbol") return `${path}: a symbol (node:v8 cannot save it)`;
  if (typeof value !== "object" || value === null || seen.has(value)) return null;
  seen.add(value);
  const prototype = Object.getPrototypeOf(value);
  const cloneable =
    prototype === null ||
    V8_CLONEABLE.includes(prototype) ||
    V8_CLONEABLE.includes(Object.getPrototypeOf(prototype));
  if (!cloneable) return `${path}: ${describeInstance(value)}`.replace("JSON", "node:v8");
  if (value instanceof Map) {
    for (const [k, v] of value) {
      const loss = v8Loss(k, `${path} key`, seen) ?? v8Loss(v, `${path}.get(${String(k)})`, seen);
      if (loss) return loss;
    }
    return null;
  }
  if (value instanceof Set) {
    for (const v of value) {
      const loss = v8Loss(v, `${path} member`, seen);
      if (loss) return loss;
    }
    return null;
  }
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return null;
  for (const key of Object.keys(value)) {
    const loss = v8Loss((value as Record<string, unknown>)[key], member(path, key), seen);
    if (loss) return loss;
  }
  return null;
}
