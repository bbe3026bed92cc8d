import { eachChild, type StateScan } from "./state-check.js";

/**
 * What the built-in codecs save besides the values: which objects have a null prototype
 * (`Object.create(null)`, the safe dictionary), which neither JSON nor node:v8 keeps. A state
 * that has none is saved as it is; one that has some is saved in an envelope,
 * `{ "waymark:nullPrototypes": [ordinals], "state": … }`, and restored after decoding.
 * A state that is itself an object with that key is enveloped too, so that it is never taken
 * for an envelope.
 */
const ENVELOPE_KEY = "waymark:nullPrototypes";

interface Envelope {
  readonly [ENVELOPE_KEY]: readonly number[];
  readonly state: unknown;
}

/** What a codec writes for `state`, given its scan: the state itself, or its envelope. */
export function withShape(state: unknown, scan: StateScan): unknown {
  if (scan.nullPrototypes.length === 0 && !isEnvelope(state)) return state;
  const envelope: Envelope = { [ENVELOPE_KEY]: scan.nullPrototypes, state };
  return envelope;
}

/** The state a codec decoded, with its null prototypes restored when it was enveloped. */
export function restoreShape(decoded: unknown): unknown {
  if (!isEnvelope(decoded)) return decoded;
  const ordinals = decoded[ENVELOPE_KEY];
  if (ordinals.length > 0) nullPrototypesAt(decoded.state, ordinals);
  return decoded.state;
}

function isEnvelope(value: unknown): value is Envelope {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.hasOwn(value, ENVELOPE_KEY)
  );
}

/**
 * Walks the decoded state in the scan's order (each object once, see `eachChild`) and gives
 * the objects at `ordinals` (ascending) their null prototype back.
 */
function nullPrototypesAt(state: unknown, ordinals: readonly number[]): void {
  const seen = new Set<object>();
  let ordinal = 0;
  let next = 0;
  const visit = (value: unknown): void => {
    if (typeof value !== "object" || value === null || seen.has(value)) return;
    seen.add(value);
    if (ordinal++ === ordinals[next]) {
      Object.setPrototypeOf(value, null);
      next++;
    }
    if (next < ordinals.length) eachChild(value, visit);
  };
  visit(state);
}
