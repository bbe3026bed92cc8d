import { keyId } from "../core/checkpoint-key.js";
import type { RunRecord, StoredCheckpoint } from "../core/store/records.js";
import { runDurationMs } from "./lease.js";
import { type RunningState, reachedBy, runningRun, successorsOf } from "./reached.js";

/** One run of `waymark runs`: as recorded, with what a process that died could not record. */
export interface RunView extends RunRecord {
  /**
   * For a run still marked `running`: `live` while it holds its lease, else what became of
   * it (`lease-expired`, `taken-over`, `checkpoint-gone`). Null for a run that finished.
   */
  readonly running: RunningState | null;
  /** `finishedAt - startedAt`; null while it runs. */
  readonly durationMs: number | null;
}

/**
 * Run history as operators should read it: a run in flight shows what it has committed so
 * far (its checkpoint), and a run that died shows where (its checkpoint, or the `resumedFrom`
 * of the run that resumed it), never `0 of N` when it committed more.
 */
export function runsReport(
  runs: readonly RunRecord[],
  checkpoints: readonly StoredCheckpoint[],
  now: number,
): RunView[] {
  const byKey = new Map(checkpoints.map((c) => [keyId(c), c]));
  const successors = successorsOf(runs);
  return runs.map((run) => {
    const successor = successors.get(run.runId);
    if (run.status === "running") {
      const found = runningRun(run, byKey.get(keyId(run)), successor, now);
      return { ...run, processed: found.processed, running: found.state, durationMs: null };
    }
    const reached = reachedBy(run, successor) - (run.resumedFrom ?? 0) - (run.skipped ?? 0);
    const processed = Math.max(run.processed, reached);
    return { ...run, processed, running: null, durationMs: runDurationMs(run) };
  });
}
