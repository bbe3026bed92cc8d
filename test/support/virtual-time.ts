/**
 * A virtual clock for runs that wait (quotas, backoff): `now` and `sleep` to pass as run
 * options. A sleep resolves when every other piece of work has settled (one `setImmediate`
 * after the last): then the clock jumps to the earliest sleeper's time and wakes it. Several
 * runs sleeping on one clock thus interleave as they would in real time, in no real time.
 */
export interface VirtualTime {
  readonly now: () => number;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

interface Sleeper {
  readonly at: number;
  readonly seq: number;
  readonly wake: () => void;
}

/** `lateMs`: every sleeper wakes this much after its time, as a real timer does. */
export function virtualTime(start = 1_700_000_000_000, lateMs = 0): VirtualTime {
  let now = start;
  let seq = 0;
  let scheduled = false;
  const sleepers: Sleeper[] = [];
  const step = () => {
    scheduled = false;
    sleepers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const next = sleepers.shift();
    if (!next) return;
    now = Math.max(now, next.at);
    next.wake();
    schedule();
  };
  const schedule = () => {
    if (scheduled || sleepers.length === 0) return;
    scheduled = true;
    // Two turns of the event loop: a store's own I/O callbacks settle before time moves.
    setImmediate(() => setImmediate(step));
  };
  return {
    now: () => now,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const sleeper: Sleeper = {
          at: now + Math.max(0, ms) + lateMs,
          seq: seq++,
          wake: () => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          },
        };
        const onAbort = () => {
          sleepers.splice(sleepers.indexOf(sleeper), 1);
          reject(signal?.reason);
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        sleepers.push(sleeper);
        schedule();
      }),
  };
}

/** The most timestamps that fall in any window `[t, t + windowMs)`. */
export function mostInWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  let first = 0;
  for (let last = 0; last < sorted.length; last++) {
    while ((sorted[last] as number) - (sorted[first] as number) >= windowMs) first++;
    most = Math.max(most, last - first + 1);
  }
  return most;
}
