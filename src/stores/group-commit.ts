import type { CallBound, LeaseHandle } from "../core/store/run-store.js";

/**
 * Group commit: checkpoint commits of several runs in one process that are ready at the same
 * moment go to the database together, in one transaction (one fsync on SQLite, one statement
 * on PostgreSQL), instead of one each. Each commit keeps its own outcome: the store's `flush`
 * reports, per commit, whether it landed or the error that failed it (fenced, a bad `ctx.tx`
 * statement), so one commit's failure fails only its own run.
 *
 * A commit waits only when another run could join it: with one run on the store it goes at
 * once, exactly as without grouping.
 */

/** What the store's flush says of one commit of a group: it landed, or this error failed it. */
export type CommitOutcome = { readonly ok: true } | { readonly ok: false; readonly error: unknown };

/** How the group is written: all at once, one outcome per commit in the same order. */
export type FlushGroup<C> = (commits: readonly C[]) => Promise<readonly CommitOutcome[]>;

/**
 * What group commit did on one store so far (`store.groupCommit`). A group is one
 * transaction that held the commits of more than one run; a commit written alone counts in
 * none of these.
 */
export interface GroupCommitStats {
  /** False when the store was opened with `groupCommit: false`: every commit goes alone. */
  readonly enabled: boolean;
  /** Transactions that held more than one run's commit. */
  readonly groups: number;
  /** Commits written in those transactions. */
  readonly commits: number;
  /** The most commits one transaction held. */
  readonly largest: number;
}

/** The stats of a store opened with `groupCommit: false`. */
export const GROUP_COMMIT_OFF: GroupCommitStats = Object.freeze({
  enabled: false,
  groups: 0,
  commits: 0,
  largest: 0,
});

/**
 * The leases a store handed out in this process and not yet got back (completed or released):
 * how many runs could join a group. A lease lost track of (a process that stops a run without
 * releasing it) only makes a lone run's commit wait for the end of the turn.
 */
export class HeldLeases {
  readonly #held = new Set<string>();

  get size(): number {
    return this.#held.size;
  }

  add(lease: LeaseIdentity): void {
    this.#held.add(leaseId(lease));
  }

  delete(lease: LeaseIdentity): void {
    this.#held.delete(leaseId(lease));
  }
}

/**
 * The bound of the write whose run ends first, if any has one: a group is written within it,
 * so that no run of the group waits past its end for the others.
 */
export function earliestBound(
  writes: readonly { readonly bound?: CallBound | undefined }[],
): CallBound | undefined {
  let first: CallBound | undefined;
  for (const write of writes) {
    if (write.bound && (!first || write.bound.endsAt < first.endsAt)) first = write.bound;
  }
  return first;
}

/** What tells one lease from another: its checkpoint, fence and run. */
type LeaseIdentity = Pick<LeaseHandle, "processor" | "partition" | "shard" | "fence" | "runId">;

function leaseId(lease: LeaseIdentity): string {
  return JSON.stringify([lease.processor, lease.partition, lease.shard, lease.fence, lease.runId]);
}

interface Waiting<C> {
  readonly commit: C;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Gathers the commits of the runs sharing one store. `active()` is how many runs hold a lease
 * through the store now: with one, nothing can join, so its commit is written at once.
 * Otherwise a commit waits for the end of the current turn of the event loop, so that every
 * run whose batch finished in this turn joins it, and never while another group is being
 * written: the runs that group releases get a turn to join the next one. Eight runs whose
 * batches take no time thus settle into one group of eight per round.
 */
export class CommitGroups<C> {
  readonly #flush: FlushGroup<C>;
  readonly #active: () => number;
  #waiting: Waiting<C>[] = [];
  #scheduled = false;
  #inFlight = false;
  #groups = 0;
  #commits = 0;
  #largest = 0;

  constructor(flush: FlushGroup<C>, active: () => number) {
    this.#flush = flush;
    this.#active = active;
  }

  /** What was grouped so far. */
  get stats(): GroupCommitStats {
    return { enabled: true, groups: this.#groups, commits: this.#commits, largest: this.#largest };
  }

  /**
   * Whether a commit now would be written alone and at once: one run holds a lease and no
   * group is waiting or being written. The store then writes it itself, directly, so that a
   * lone run pays not even the promise of a group.
   */
  alone(): boolean {
    return !this.#inFlight && !this.#scheduled && this.#waiting.length === 0 && this.#active() <= 1;
  }

  /** Resolves once `commit` landed; rejects with the error its flush reported for it. */
  commit(commit: C): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({ commit, resolve, reject });
      if (this.#inFlight || this.#scheduled) return; // the next group takes it
      if (this.#active() <= 1) void this.#write();
      else this.#schedule();
    });
  }

  #schedule(): void {
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#write();
    });
  }

  /** Writes what is waiting as one group; what arrived meanwhile goes at the next turn. */
  async #write(): Promise<void> {
    const group = this.#waiting;
    this.#waiting = [];
    this.#inFlight = true;
    if (group.length > 1) {
      this.#groups++;
      this.#commits += group.length;
      this.#largest = Math.max(this.#largest, group.length);
    }
    let outcomes: readonly CommitOutcome[];
    try {
      outcomes = await this.#flush(group.map((w) => w.commit));
    } catch (error) {
      // The group's transaction itself failed: none of its commits landed, or it is not
      // known whether they did. Each run settles that for itself.
      outcomes = group.map(() => ({ ok: false, error }));
    } finally {
      this.#inFlight = false;
    }
    group.forEach((waiting, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok) waiting.resolve();
      else waiting.reject(outcome ? outcome.error : new Error("no outcome for a commit"));
    });
    if (this.#waiting.length > 0) this.#schedule();
  }
}
