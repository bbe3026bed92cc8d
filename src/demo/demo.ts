import { checkpointKey } from "../core/checkpoint-key.js";
import { run } from "../core/run.js";
import type { RunResult } from "../core/run-result.js";
import type { CheckpointStore, RunRecord } from "../core/store/checkpoint-store.js";
import type { Logger } from "../core/types.js";
import { GAME_DATE, playerSummaries } from "./player-scenario.js";

/** The two ways the demo runs the scenario. */
export type DemoMode = "withoutCheckpoints" | "withCheckpoints";

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Simulated work per batch, in ms. @default 80 */
  readonly batchMs?: number;
  /** Called as the demo goes, for live output. */
  readonly onEvent?: (event: DemoEvent) => void;
}

/** What happens while the demo runs, in order. */
export type DemoEvent =
  | { readonly type: "mode"; readonly mode: DemoMode; readonly processor: string }
  | { readonly type: "log"; readonly mode: DemoMode; readonly level: string; readonly line: string }
  | { readonly type: "run"; readonly mode: DemoMode; readonly run: DemoRun }
  | { readonly type: "reset"; readonly mode: DemoMode };

/** One run the demo made, as its run history row tells it. */
export interface DemoRun {
  readonly runId: string;
  readonly status: string;
  /** Entities this run processed (committed). */
  readonly processed: number;
  readonly resumedFrom: number | null;
  readonly total: number | null;
  readonly batches: number;
  readonly durationMs: number;
  readonly checkpointMs: number;
  readonly error: string | null;
}

/** One way of running the scenario: its runs and what they cost. */
export interface DemoModeReport {
  readonly processor: string;
  readonly runs: readonly DemoRun[];
  /** Entities processed across the runs, redone ones included. */
  readonly processed: number;
  /** Time the runs took, summed. */
  readonly durationMs: number;
}

/** The demo's figures, all read from the run history of the runs it made. */
export interface DemoReport {
  readonly store: string;
  readonly partition: string;
  readonly players: number;
  readonly batchSize: number;
  readonly batchMs: number;
  readonly withoutCheckpoints: DemoModeReport;
  readonly withCheckpoints: DemoModeReport;
  readonly saved: {
    /** Entities the checkpointed runs did not have to redo. */
    readonly entities: number;
    /** `entities` over the entities processed without checkpoints (0..1). */
    readonly share: number;
    readonly durationMs: number;
    /** `durationMs` over the time taken without checkpoints (0..1). */
    readonly timeShare: number;
  };
}

const PLAYERS = 450;
/** Entities per batch in the scenario. */
export const DEMO_BATCH_SIZE = 50;
const FAIL_AT_PLAYER = 301;
const NAMES: Record<DemoMode, string> = {
  withoutCheckpoints: "player-game-summary-baseline",
  withCheckpoints: "player-game-summary",
};

/**
 * Runs the 450-player scenario twice on `store`: without checkpoints (the failed run's
 * checkpoint is reset, so the retry starts from player 1) and with them (the retry resumes).
 * Both first runs hit a simulated quota error on the batch of players 301-350.
 */
export async function runDemo(
  store: CheckpointStore,
  options: DemoOptions = {},
): Promise<DemoReport> {
  const batchMs = options.batchMs ?? 80;
  const emit = options.onEvent ?? (() => {});
  const modes: Partial<Record<DemoMode, DemoModeReport>> = {};
  for (const mode of ["withoutCheckpoints", "withCheckpoints"] as const) {
    const processor = NAMES[mode];
    const key = checkpointKey(processor, GAME_DATE);
    // A demo that died earlier on a user's store may have left a checkpoint: start clean.
    await store.deleteCheckpoint(key);
    emit({ type: "mode", mode, processor });
    let quotaExhausted = true;
    const summaries = playerSummaries({
      name: processor,
      players: PLAYERS,
      batchSize: DEMO_BATCH_SIZE,
      batchMs,
      failAtPlayer: FAIL_AT_PLAYER,
      quotaExhausted: () => quotaExhausted,
    });
    const logger = demoLogger((level, line) =>
      emit({
        type: "log",
        mode,
        level,
        line: mode === "withoutCheckpoints" ? withoutPlace(line) : line,
      }),
    );
    const results: RunResult[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const result = await run(summaries, {
        store,
        partition: GAME_DATE,
        logger,
        progressEveryMs: 0,
      });
      results.push(result);
      emit({ type: "run", mode, run: fromResult(result) });
      if (result.status !== "failed") break;
      // The quota refills before the retry; the job without checkpoints also loses its place.
      quotaExhausted = false;
      if (mode === "withoutCheckpoints") {
        await store.deleteCheckpoint(key);
        emit({ type: "reset", mode });
      }
    }
    modes[mode] = await fromHistory(store, processor, results);
  }
  const without = modes.withoutCheckpoints as DemoModeReport;
  const withCp = modes.withCheckpoints as DemoModeReport;
  const savedEntities = without.processed - withCp.processed;
  const savedMs = without.durationMs - withCp.durationMs;
  return {
    store: store.kind,
    partition: GAME_DATE,
    players: PLAYERS,
    batchSize: DEMO_BATCH_SIZE,
    batchMs,
    withoutCheckpoints: without,
    withCheckpoints: withCp,
    saved: {
      entities: savedEntities,
      share: without.processed === 0 ? 0 : savedEntities / without.processed,
      durationMs: savedMs,
      timeShare: without.durationMs === 0 ? 0 : savedMs / without.durationMs,
    },
  };
}

/** Reads the runs back from history, so that every figure is what the store recorded. */
async function fromHistory(
  store: CheckpointStore,
  processor: string,
  results: readonly RunResult[],
): Promise<DemoModeReport> {
  const history = await store.listRuns({ processor, partition: GAME_DATE });
  const runs = results.map((result) => {
    const row = history.find((r) => r.runId === result.runId);
    if (!row) throw new Error(`Run ${result.runId} of ${processor} is missing from run history.`);
    return fromRecord(row);
  });
  return {
    processor,
    runs,
    processed: runs.reduce((sum, r) => sum + r.processed, 0),
    durationMs: runs.reduce((sum, r) => sum + r.durationMs, 0),
  };
}

function fromRecord(row: RunRecord): DemoRun {
  return {
    runId: row.runId,
    status: row.status,
    processed: row.processed,
    resumedFrom: row.resumedFrom,
    total: row.total,
    batches: row.batches,
    durationMs: (row.finishedAt ?? row.startedAt) - row.startedAt,
    checkpointMs: row.checkpointMs,
    error: row.error,
  };
}

function fromResult(result: RunResult): DemoRun {
  return {
    runId: result.runId,
    status: result.status,
    processed: result.processed,
    resumedFrom: result.resumedFrom,
    total: result.total,
    batches: result.batches,
    durationMs: result.durationMs,
    checkpointMs: result.checkpointMs,
    error: result.error ? `${result.error.name}: ${result.error.message}` : null,
  };
}

/**
 * The half without checkpoints runs waymark too, and deletes its checkpoint after a failure
 * to act as a job that keeps none: its lines must not promise a resume it will not make.
 */
function withoutPlace(line: string): string {
  return line.replace(
    "Checkpoint saved - can resume.",
    "Without checkpoints, nothing says where to resume.",
  );
}

function demoLogger(write: (level: string, line: string) => void): Logger {
  return {
    debug: () => {},
    info: (line) => write("info", line),
    warn: (line) => write("warn", line),
    error: (line) => write("error", line),
  };
}
