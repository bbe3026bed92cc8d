import { z } from "zod";

/**
 * A circuit breaker the runner consults before each batch. Any of these shapes works:
 *
 * - your own object with `isOpen()` (or an `isOpen`/`opened` boolean), and optionally
 *   `recordFailure(error)` / `recordSuccess()` to hear how batches went;
 * - an opossum `CircuitBreaker` (its `opened` property is read; wrap your downstream calls
 *   in `breaker.fire()` inside `processBatch` so it sees their failures);
 * - a cockatiel `CircuitBreakerPolicy` (its `state` is read, and each batch runs through
 *   `breaker.execute()`, so the breaker counts batch failures itself).
 */
export type CircuitBreakerLike = object;

/** What the runner needs from a breaker, whatever library it comes from. */
export interface BreakerAdapter {
  /** True when the circuit is open: no batch should start. */
  isOpen(): boolean;
  /** Runs one batch attempt, through the breaker when it can wrap calls (cockatiel). */
  run<T>(attempt: () => Promise<T>): Promise<T>;
}

interface Duck {
  isOpen?: unknown;
  opened?: unknown;
  state?: unknown;
  execute?: unknown;
  recordFailure?: unknown;
  recordSuccess?: unknown;
  failure?: unknown;
  success?: unknown;
}

// cockatiel's CircuitState: Closed 0, Open 1, HalfOpen 2, Isolated 3. Open and Isolated refuse.
const COCKATIEL_OPEN = 1;
const COCKATIEL_ISOLATED = 3;

/** Whether `value` has one of the shapes {@link adaptBreaker} understands. */
export function isBreakerLike(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  const duck = value as Duck;
  return (
    typeof duck.isOpen === "function" ||
    typeof duck.isOpen === "boolean" ||
    typeof duck.opened === "boolean" ||
    (typeof duck.state === "number" && typeof duck.execute === "function")
  );
}

/** The zod schema of the `breaker` option. */
export const breakerSchema = z.custom<CircuitBreakerLike>(isBreakerLike, {
  error:
    "expected a circuit breaker: an object with isOpen(), an opossum CircuitBreaker or a " +
    "cockatiel circuitBreaker(...) policy",
});

/** Wraps any supported breaker in one small interface. */
export function adaptBreaker(breaker: CircuitBreakerLike): BreakerAdapter {
  const duck = breaker as Duck;
  const isCockatiel = typeof duck.state === "number" && typeof duck.execute === "function";
  const isOpen = (): boolean => {
    if (typeof duck.isOpen === "function") return Boolean(duck.isOpen.call(breaker));
    if (typeof duck.isOpen === "boolean") return duck.isOpen;
    if (typeof duck.opened === "boolean") return duck.opened;
    return duck.state === COCKATIEL_OPEN || duck.state === COCKATIEL_ISOLATED;
  };
  const report = (name: "recordFailure" | "failure" | "recordSuccess" | "success", arg?: Error) => {
    const method = duck[name];
    if (typeof method === "function") method.call(breaker, arg);
  };
  return {
    isOpen,
    async run(attempt) {
      if (isCockatiel) {
        const execute = duck.execute as (fn: () => Promise<unknown>) => Promise<unknown>;
        return (await execute.call(breaker, attempt)) as Awaited<ReturnType<typeof attempt>>;
      }
      try {
        const result = await attempt();
        report(typeof duck.recordSuccess === "function" ? "recordSuccess" : "success");
        return result;
      } catch (error) {
        report(
          typeof duck.recordFailure === "function" ? "recordFailure" : "failure",
          error as Error,
        );
        throw error;
      }
    },
  };
}
