import { describeKey, resetCommand } from "./checkpoint-key.js";
import { checkCount } from "./count.js";
import { describeValue, InvalidOptionError, WaymarkError } from "./errors.js";
import type { Processor } from "./processor.js";
import { decodeState } from "./state.js";
import type { StoredCheckpoint } from "./store/records.js";
import { unstorableIn } from "./stored-text.js";
import { type Cursor, isCursor, type Logger } from "./types.js";

/** The partition's input as it is now, read once at the start of a run. */
export interface InputSnapshot {
  readonly fingerprint: string | null;
  /** From `count()`, or null when the processor has none. */
  readonly total: number | null;
}

/** Where a resume starts: the committed (or migrated) cursor, count and state. */
export interface ResumePoint {
  readonly cursor: Cursor;
  readonly completed: number;
  /** The state, read back with the codec that wrote it. */
  readonly state: unknown;
}

/**
 * Reads the fingerprint and the count, each once per run: the count of the range the run
 * covers (`countArgs`), the fingerprint of the unit as defined (`fingerprintArgs`, which a
 * split never changes). Either carries the partition and, for a shard, the shard.
 */
export async function readInput(
  processor: Processor,
  countArgs: { readonly partition: string },
  fingerprintArgs: { readonly partition: string } = countArgs,
): Promise<InputSnapshot> {
  const { partition } = countArgs;
  const fingerprint = processor.fingerprint ? await processor.fingerprint(fingerprintArgs) : null;
  if (fingerprint !== null && typeof fingerprint !== "string") {
    throw new InvalidOptionError(
      "fingerprint",
      `fingerprint() of ${processor.name} returned ${typeof fingerprint}; return a string, ` +
        "e.g. a data version or a hash of the entity ids.",
    );
  }
  // Compared with the stored one on resume, so it must be stored exactly.
  const unstorable = fingerprint === null ? null : unstorableIn(fingerprint);
  if (unstorable) {
    throw new InvalidOptionError(
      "fingerprint",
      `fingerprint() of ${processor.name} returned ${describeValue(fingerprint)}, which has ` +
        `${unstorable}: a store cannot keep it exactly. Return text without it, e.g. a hex digest.`,
    );
  }
  const total = processor.count
    ? checkCount(await processor.count(countArgs), `${processor.name}/${partition}`)
    : null;
  return { fingerprint, total };
}

/**
 * Decides how a committed checkpoint is resumed: carried forward by `migrate` when it was
 * written by another version, then checked for input drift. Null means start over.
 * Expiry and `onVersionMismatch` (without `migrate`) are decided before this.
 */
export async function resumePoint(
  processor: Processor,
  checkpoint: StoredCheckpoint & { cursor: Cursor },
  input: InputSnapshot,
  where: string,
  logger: Logger,
): Promise<ResumePoint | null> {
  const point = await carryForward(processor, checkpoint, where, logger);
  if (point === null) return null;
  return driftAllowsResume(processor, checkpoint, input, where, logger) ? point : null;
}

async function carryForward(
  processor: Processor,
  checkpoint: StoredCheckpoint & { cursor: Cursor },
  where: string,
  logger: Logger,
): Promise<ResumePoint | null> {
  const state = decodeState(checkpoint.state, checkpoint.stateCodec, processor, checkpoint);
  const fromVersion = checkpoint.processorVersion;
  if (fromVersion === null || fromVersion === processor.version || !processor.migrate) {
    return { cursor: checkpoint.cursor, completed: checkpoint.completed, state };
  }
  const migrated = await processor.migrate({
    fromVersion,
    state,
    cursor: checkpoint.cursor,
    completed: checkpoint.completed,
  });
  if (migrated === null) {
    logger.warn(
      `migrate() of ${where} returned null for the version ${fromVersion} checkpoint; ` +
        `starting over, redoing its ${checkpoint.completed} committed entities. Return ` +
        "{ state } from migrate() to carry it forward instead.",
    );
    return null;
  }
  if (typeof migrated !== "object" || Array.isArray(migrated)) {
    // Nothing was written yet: the old checkpoint stays for a fixed migrate() to carry.
    throw new InvalidOptionError(
      "migrate",
      `migrate() of ${where} returned ${describeValue(migrated)}; return { state, cursor? } ` +
        "to carry the checkpoint forward, or null to start over.",
    );
  }
  const cursor = migrated.cursor ?? checkpoint.cursor;
  if (!isCursor(cursor)) {
    throw new InvalidOptionError(
      "migrate",
      `migrate() of ${where} returned cursor ${describeValue(cursor)}; return a string or a ` +
        "finite number, or leave cursor out to keep the old one.",
    );
  }
  logger.info(
    `Migrated checkpoint of ${where} from version ${fromVersion} to ${processor.version}.`,
  );
  return {
    cursor,
    completed: checkpoint.completed,
    state: migrated.state,
  };
}

/**
 * Input drift: the fingerprint differs from what the checkpoint recorded. A plain resume
 * would then skip entities inserted before the cursor, so by default the partition starts
 * over. A changed total alone is not drift: `count()` is for progress, and a table that only
 * grows would otherwise restart on every resume. A side that did not record a value is not
 * compared.
 */
function driftAllowsResume(
  processor: Processor,
  checkpoint: StoredCheckpoint,
  input: InputSnapshot,
  where: string,
  logger: Logger,
): boolean {
  const total = totalChange(checkpoint, input);
  if (
    checkpoint.fingerprint === null ||
    input.fingerprint === null ||
    checkpoint.fingerprint === input.fingerprint
  ) {
    if (total !== null) {
      logger.info(
        `The total of ${where} changed since its checkpoint (${total}); resuming after the ` +
          "cursor with the new total. Only a changed `fingerprint` is input drift.",
      );
    }
    return true;
  }
  const changes = [
    `fingerprint ${JSON.stringify(checkpoint.fingerprint)} -> ${JSON.stringify(input.fingerprint)}`,
    ...(total === null ? [] : [total]),
  ];
  const message = `The input of ${where} changed since its checkpoint (${changes.join(", ")}).`;
  switch (processor.onDrift) {
    case "fail":
      throw new WaymarkError(
        "INPUT_DRIFT",
        `${message} Entities added before the cursor would be skipped by a resume. Reset it ` +
          `with \`${resetCommand(checkpoint)}\`, or set onDrift: ` +
          '"restart" or "continue".',
      );
    case "continue":
      logger.warn(`${message} Resuming after the cursor anyway (onDrift: "continue").`);
      return true;
    default:
      logger.warn(
        `${message} Starting over (onDrift: "restart"), redoing the ${checkpoint.completed} ` +
          'committed entities; onDrift: "continue" resumes after the cursor instead.',
      );
      return false;
  }
}

/** `total 100 -> 101`, or null when the totals agree or one side recorded none. */
function totalChange(checkpoint: StoredCheckpoint, input: InputSnapshot): string | null {
  // A total the run itself grew past count() (total = completed) says count() was wrong.
  const countWasWrong = checkpoint.total !== null && checkpoint.total <= checkpoint.completed;
  if (checkpoint.total === null || input.total === null || countWasWrong) return null;
  return checkpoint.total === input.total ? null : `total ${checkpoint.total} -> ${input.total}`;
}

/**
 * Whether a committed checkpoint may be resumed at all: not older than `expiryMs`, and written
 * by this `version` (unless `migrate` will carry it forward). A mismatch under
 * `onVersionMismatch: "fail"` throws; every "no" is logged with the reason.
 */
export function isResumable(
  checkpoint: StoredCheckpoint,
  p: Processor,
  now: number,
  logger: Logger,
): boolean {
  const where = describeKey(checkpoint);
  const age = now - checkpoint.updatedAt;
  if (age > p.expiryMs) {
    logger.warn(
      `Checkpoint of ${where} at ${checkpoint.completed} entities is ${age} ms old, ` +
        `past expiryMs (${p.expiryMs}); starting over, redoing its ${checkpoint.completed} ` +
        "committed entities. A longer `expiryMs` keeps checkpoints resumable for longer.",
    );
    return false;
  }
  // With `migrate`, resumePoint carries the checkpoint forward instead.
  if (checkpoint.processorVersion !== p.version && !p.migrate) {
    const message =
      `Checkpoint of ${where} was written by version ${checkpoint.processorVersion}, ` +
      `this processor is version ${p.version}.`;
    if (p.onVersionMismatch === "fail") {
      throw new WaymarkError(
        "VERSION_MISMATCH",
        `${message} Reset it with \`${resetCommand(checkpoint)}\`, or set ` +
          `onVersionMismatch: "restart" to start over automatically.`,
      );
    }
    logger.warn(
      `${message} Starting over (onVersionMismatch: "restart"), redoing its ` +
        `${checkpoint.completed} committed entities; \`migrate\` carries a checkpoint ` +
        'forward instead, onVersionMismatch: "fail" stops to ask.',
    );
    return false;
  }
  return true;
}
