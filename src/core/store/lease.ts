import type { CheckpointKey } from "../types.js";

/** Proof of a held lease: every fenced write names it. */
export interface LeaseHandle extends CheckpointKey {
  readonly owner: string;
  readonly fence: number;
  readonly runId: string;
}
