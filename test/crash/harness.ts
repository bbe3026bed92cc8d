/**
 * What the crash tests and the torture script share: spawning the crash child, reading what
 * it left behind (the store's rows, the external effects log) and checking the guarantees.
 * Checks return violations as sentences instead of throwing, so that the torture script can
 * count them and a test can assert there are none.
 */
export { seeded } from "../support/random.js";

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RunRecord, StoredCheckpoint } from "../../src/core/store/checkpoint-store.js";
import { SqliteStore } from "../../src/index.js";

/** The table the child writes one row per entity into through `ctx.tx`. */
export const EFFECTS_TABLE = "crash_effects";
/** The processor name the child runs. */
export const CRASH_PROCESSOR = "crash-players";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const CHILD = join(ROOT, "test", "crash", "crash-child.ts");

/** Where the child kills itself: after an entity's external effect, or after a commit. */
export type KillPoint =
  | { readonly kind: "entity"; readonly id: number }
  | { readonly kind: "commit"; readonly completed: number };

/** The child's configuration, passed as JSON in `WAYMARK_CRASH`. */
export interface CrashChildConfig {
  readonly db: string;
  readonly effects: string;
  readonly partition: string;
  readonly total: number;
  readonly batchSize: number;
  /** Simulated work per batch, so that a kill from outside lands mid-run. */
  readonly workMs: number;
  /** Written on each external effect line, to tell attempts apart. */
  readonly tag: string;
  readonly killAt: KillPoint | null;
  /** How long to keep retrying while a dead runner's lease has not expired yet. */
  readonly busyDeadlineMs: number;
}

/** The JSON line a child prints when its run returns. */
export interface CrashChildReport {
  readonly runId: string;
  readonly status: string;
  readonly processed: number;
  readonly resumedFrom: number | null;
  readonly completed: number;
  readonly batches: number;
  readonly busyAttempts: number;
  readonly error: string | null;
}

/** How a child ended. */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The parsed result line, when the child got that far. */
  readonly report: CrashChildReport | null;
}

/** A running child: resolves `processing` when its first batch starts, `exited` when it ends. */
export interface CrashChild {
  readonly process: ChildProcess;
  readonly processing: Promise<void>;
  readonly exited: Promise<ChildExit>;
}

const live = new Set<ChildProcess>();

/** Starts the crash child with `node --import tsx`. */
export function spawnCrashChild(config: CrashChildConfig): CrashChild {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD], {
    cwd: ROOT,
    env: { ...process.env, WAYMARK_CRASH: JSON.stringify(config) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  child.once("exit", () => live.delete(child));
  let stdout = "";
  let stderr = "";
  let announce: () => void = () => {};
  const processing = new Promise<void>((resolve) => {
    announce = resolve;
  });
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    if (stdout.includes("processing\n")) announce();
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<ChildExit>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => {
      const last = stdout.trim().split("\n").at(-1) ?? "";
      const report = last.startsWith("{") ? (JSON.parse(last) as CrashChildReport) : null;
      resolve({ code, signal, stdout, stderr, report });
    });
  });
  return { process: child, processing, exited };
}

/**
 * Kills children a failed test left running, so that they cannot write into the next test's
 * files or keep the test process alive. Returns how many there were.
 */
export function killLeftoverChildren(): number {
  const leftover = live.size;
  for (const child of live) child.kill("SIGKILL");
  live.clear();
  return leftover;
}

/** One line of the external effects log. */
export interface EffectLine {
  readonly tag: string;
  readonly partition: string;
  readonly entity: number;
}

/** Reads the external effects log; a missing file is an empty log. */
export function readEffects(path: string): EffectLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const [tag = "", partition = "", entity = ""] = line.split(" ");
      return { tag, partition, entity: Number(entity) };
    });
}

/** What the store holds for one partition after the children are gone. */
export interface StoreSnapshot {
  readonly checkpoint: StoredCheckpoint | null;
  /** When the partition last completed: a run killed after clearing its checkpoint did. */
  readonly completedAt: number | null;
  readonly runs: RunRecord[];
  /** Rows written through `ctx.tx`: entity → number of writes. */
  readonly txWrites: Map<number, number>;
}

/** Reads the checkpoint, run history and `ctx.tx` rows of a partition. */
export async function snapshot(db: string, partition: string): Promise<StoreSnapshot> {
  const store = new SqliteStore(db);
  try {
    const key = { processor: CRASH_PROCESSOR, partition, shard: "" };
    const hasTable = store.database
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
      .get(EFFECTS_TABLE);
    const rows = hasTable
      ? (store.database
          .prepare(`SELECT entity, writes FROM ${EFFECTS_TABLE} WHERE partition = ?`)
          .all(partition) as Array<{ entity: number; writes: number }>)
      : [];
    return {
      checkpoint: await store.getCheckpoint(key),
      completedAt: await store.lastCompletedAt(key),
      runs: await store.listRuns({ processor: CRASH_PROCESSOR, partition, shard: "" }),
      txWrites: new Map(rows.map((r) => [r.entity, r.writes])),
    };
  } finally {
    await store.close();
  }
}

/**
 * Guarantee 2 for one killed attempt: the entities it affected past the committed cursor
 * (the ones the next run will replay) are consecutive, start right after the cursor and fit
 * in one batch. Returns how many will be replayed, and any violations.
 */
export function checkKilledAttempt(
  effects: readonly EffectLine[],
  tag: string,
  committedCursor: number,
  batchSize: number,
): { replayed: number; violations: string[] } {
  const past = effects
    .filter((e) => e.tag === tag && e.entity > committedCursor)
    .map((e) => e.entity)
    .sort((a, b) => a - b);
  const violations: string[] = [];
  if (past.length > batchSize) {
    violations.push(
      `${tag}: ${past.length} external effects past the committed cursor ${committedCursor}, ` +
        `more than one batch (${batchSize})`,
    );
  }
  past.forEach((entity, i) => {
    if (entity !== committedCursor + 1 + i) {
      violations.push(`${tag}: effect ${entity} is not the next entity after the cursor`);
    }
  });
  return { replayed: past.length, violations: violations.slice(0, 5) };
}

/**
 * Guarantees 1 and 3 once a partition completed: every entity 1..total has its `ctx.tx` row
 * written exactly once and its external effect at least once; external duplicates add up to
 * exactly the replays `checkKilledAttempt` counted.
 */
export function checkCompleted(
  effects: readonly EffectLine[],
  txWrites: ReadonlyMap<number, number>,
  total: number,
  replayed: number,
): string[] {
  const violations: string[] = [];
  const seen = new Map<number, number>();
  for (const e of effects) seen.set(e.entity, (seen.get(e.entity) ?? 0) + 1);
  for (let n = 1; n <= total; n++) {
    const writes = txWrites.get(n);
    if (writes === undefined) violations.push(`entity ${n}: no ctx.tx row (skipped)`);
    else if (writes !== 1) violations.push(`entity ${n}: ctx.tx row written ${writes} times`);
    if (!seen.has(n)) violations.push(`entity ${n}: no external effect (skipped)`);
  }
  if (txWrites.size !== total) violations.push(`${txWrites.size} ctx.tx rows for ${total}`);
  const duplicates = effects.length - seen.size;
  if (duplicates !== replayed) {
    violations.push(`${duplicates} duplicate external effects, but the kills replayed ${replayed}`);
  }
  return violations.slice(0, 10);
}
