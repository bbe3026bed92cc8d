import { performance } from "node:perf_hooks";

/** How a store's commits go: gathered into groups, or each alone at once. */
export type GroupMode = "group" | "alone";

/** Commits the kept mode is measured over before it is judged again. */
export const PAYOFF_WINDOW = 256;
/** Commits the other mode is tried for: short, since it is the one expected to lose. */
export const PROBE_WINDOW = 64;
/** Windows the better mode keeps before the other is tried again (the load may change). */
const HOLD_WINDOWS = 32;

/**
 * Whether grouping pays, measured rather than assumed. Grouping saves a transaction (an fsync on
 * SQLite, a WAL flush on PostgreSQL) per commit, but makes every commit of a round wait for the
 * round, and sends them one group at a time. Where a commit is CPU-bound (a server on the same
 * cores, a cheap fsync), commits written alone on their own connections, in parallel, can be
 * faster: on PostgreSQL on a 2-core machine, 8 runs at once committed about 15% faster alone.
 *
 * So the groups start grouping; after {@link PAYOFF_WINDOW} commits they try writing alone for
 * {@link PROBE_WINDOW}, and keep the mode in which each run committed more often (commits per
 * millisecond per run holding a lease, so that runs starting or ending do not sway it), for
 * {@link HOLD_WINDOWS} windows, then try the other again. Both modes commit the same rows with
 * the same fencing; only the waiting differs.
 */
export class GroupPayoff {
  #mode: GroupMode = "group";
  #probing = false;
  #held = 0;
  #count = 0;
  #runs = 0;
  #startedAt = 0;
  readonly #rate: Record<GroupMode, number | null> = { group: null, alone: null };
  readonly #now: () => number;

  /** `now`: a monotonic clock in milliseconds (tests pass their own). */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** The mode the next commit goes in. */
  get mode(): GroupMode {
    return this.#mode;
  }

  /** Commits per millisecond per run in each mode, as last measured (null: not yet). */
  get rate(): Readonly<Record<GroupMode, number | null>> {
    return this.#rate;
  }

  /** One commit of `mode` settled, with `runs` runs holding a lease on the store. */
  record(mode: GroupMode, runs: number): void {
    // A commit of the previous mode settling late says nothing of the current one.
    if (mode !== this.#mode) return;
    const now = this.#now();
    if (this.#count === 0) this.#startedAt = now;
    this.#runs += Math.max(1, runs);
    if (++this.#count < (this.#probing ? PROBE_WINDOW : PAYOFF_WINDOW)) return;
    const elapsed = Math.max(now - this.#startedAt, 1e-3);
    this.#rate[mode] = this.#count / elapsed / (this.#runs / this.#count);
    this.#count = 0;
    this.#runs = 0;
    const other: GroupMode = mode === "group" ? "alone" : "group";
    const theirs = this.#rate[other];
    if (theirs === null || (!this.#probing && ++this.#held >= HOLD_WINDOWS)) {
      this.#probing = true;
      this.#held = 0;
      this.#mode = other;
      return;
    }
    // Both measured: keep the mode whose runs committed more often.
    this.#probing = false;
    this.#mode = (this.#rate[mode] as number) >= theirs ? mode : other;
  }
}
