import { WaymarkError } from "./errors.js";

/**
 * What a run's closing lines say besides the counts: where a failed run leaves its checkpoint
 * and what to do next, and where the entities it skipped went. Each cause has its own advice:
 * "run again" is only true where running again helps.
 */

/** The sentence after `Failed at N/T.`: what became of the checkpoint and what to do. */
export function failureNote(error: Error, completed: number): string {
  const code = error instanceof WaymarkError ? error.code : undefined;
  if (code === "OUTCOME_UNKNOWN") return "Whether the last write landed is unknown.";
  if (code === "FENCED") {
    return "Another runner holds this checkpoint now and goes on from its last commit: do not run it again here.";
  }
  if (code === "ORDER_VIOLATION") {
    return "Fix the entity source first: a run started again would stop at the same entity.";
  }
  if (code === "CORRUPT_CHECKPOINT") return "The checkpoint is kept, but cannot be resumed:";
  if (code === "SHARD_DRIFT")
    return "What it committed is kept; a run started again stops the same way:";
  return completed > 0 ? "Checkpoint saved - can resume." : "No checkpoint to resume from.";
}

/**
 * What to do once a source whose order disagreed with the ids' is fixed: what was committed
 * was read in that order, so a resume from it would skip the ids the order put after it, and
 * a range of the partition that completed may have missed some. Empty when nothing needs it.
 */
export function orderRedoNote(
  processor: string,
  unit: { readonly partition: string; readonly ranged: boolean },
  completed: number,
): string {
  if (!unit.ranged && completed === 0) return "";
  const why = unit.ranged
    ? "its ranges were read in that order, and one that completed or resumes may miss ids"
    : "what was committed was read in that order, and a resume would skip the ids it put after " +
      "the checkpoint";
  return (
    `Once it is fixed, start the partition over (waymark reset ${processor} ${unit.partition}, ` +
    `every shard of it), then run again: ${why}.`
  );
}

/** `; 4 skipped to the failure ledger (waymark failures)`, or nothing when none were. */
export function skippedNote(skipped: number): string {
  if (skipped === 0) return "";
  const entities = skipped === 1 ? "1 entity" : `${skipped} entities`;
  return `; ${entities} skipped to the failure ledger (\`waymark failures\`)`;
}
