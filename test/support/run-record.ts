import { checkpointKey } from "../../src/core/checkpoint-key.js";
import type { RunRecord } from "../../src/core/store/records.js";
import type { LeaseHandle } from "../../src/core/store/run-store.js";

/** The history row of a lease's run, started and (unless running) finished at `now`. */
export function leaseRun(
  lease: LeaseHandle,
  now: number,
  status: RunRecord["status"] = "completed",
): RunRecord {
  return {
    ...checkpointKey(lease.processor, lease.partition, lease.shard),
    runId: lease.runId,
    status,
    startedAt: now,
    finishedAt: status === "running" ? null : now,
    resumedFrom: null,
    processed: 0,
    total: null,
    batches: 0,
    checkpointMs: 0,
    attempt: 1,
    reason: null,
    error: null,
  };
}
