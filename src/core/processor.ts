import { z } from "zod";
import type { Artifacts } from "./artifacts.js";
import { atCallerOf } from "./call-site.js";
import { type BatchSizeOption, batchSizeSchema } from "./policies/adaptive-batch.js";
import { batchTimeoutSchema } from "./policies/batch-timeout.js";
import { breakerSchema, type CircuitBreakerLike } from "./policies/breaker.js";
import type { QuotaHandle } from "./policies/quota.js";
import { type QuotaOptions, quotaSchema } from "./policies/quota-options.js";
import { type RetryOptions, retrySchema } from "./policies/retry.js";
import { type SkipOptions, skipSchema } from "./policies/skip.js";
import type { Shard, ShardsArgs, SplitArgs } from "./shard-types.js";
import type { StateCodec } from "./state-codecs.js";
import type { Cursor, Logger } from "./types.js";
import { fn, integerFrom, parseOptions } from "./validate.js";

/** What `entities` may return: consumed lazily, so a huge partition never sits in memory. */
export type EntitySource<E> =
  | readonly E[]
  | Iterable<E>
  | AsyncIterable<E>
  | Promise<readonly E[] | Iterable<E> | AsyncIterable<E>>;

/** What `migrate` receives: the old checkpoint, its state already parsed from JSON. */
export interface CheckpointMigration {
  /** The processor version that wrote the checkpoint. */
  readonly fromVersion: number;
  readonly state: unknown;
  readonly cursor: Cursor;
  /** Entities complete when the checkpoint was written. */
  readonly completed: number;
}

/** What `migrate` returns: the state for the current version, and the cursor if it moved. */
export interface MigratedCheckpoint<S> {
  readonly state: S;
  readonly cursor?: Cursor;
}

/** What `processBatch` gets besides the batch. */
export interface BatchContext<S, Tx = unknown> {
  /** The partition this run covers. */
  readonly partition: string;
  /** The shard of the partition this run covers, when the processor defines `shards`. */
  readonly shard?: Shard;
  /**
   * The state, committed atomically with the cursor. Mutate it or assign a new value; it
   * must serialise to JSON. After a failed batch it is restored to the last committed value.
   */
  state: S;
  /** Aborted when the run must stop mid-batch (lease lost, hard deadline, shutdown). */
  readonly signal: AbortSignal;
  /** The run's logger. */
  readonly log: Logger;
  /**
   * The store's transaction handle: writes made through it commit together with this
   * batch's checkpoint, exactly once. `SqliteTx` on SQLite, `PgTx` on PostgreSQL, `MemoryTx`
   * on memory.
   */
  readonly tx: Tx;
  /**
   * Blobs kept beside the checkpoint (model weights, large state): a `put` becomes current
   * in the same commit as this batch's cursor. Needs a store with artifacts (SQLite, PostgreSQL, memory).
   */
  readonly artifacts: Artifacts;
  /** 1 for the first batch of this run. */
  readonly batchNumber: number;
  /** A stable key for one entity's effect outside the store (payments, emails, APIs). */
  idempotencyKey(entity: unknown): string;
  /**
   * A quota the processor (or the run) declares, to take tokens inside the batch: one per API
   * call, say. Every runner of the key shares its budget; see `quota`.
   * @example await ctx.quota("nba-api").take(1);
   */
  quota(key: string): QuotaHandle;
}

/**
 * The cursor type of an entity type: the entity itself when it is a number or a string, the
 * type of its `id` property when it has one (a `number` id gives `number` cursors), else any
 * cursor. It is the default of
 * `defineProcessor`'s fourth type argument; pass that argument when `id()` returns
 * something other than the entity's `id` property.
 */
export type IdOf<E> = [E] extends [number]
  ? number
  : [E] extends [string]
    ? string
    : E extends { readonly id: infer I extends Cursor }
      ? I
      : Cursor;

/** Arguments of `entities`. `C` is the cursor type (`number` for numeric ids). */
export interface EntitiesArgs<C extends Cursor = Cursor> {
  readonly partition: string;
  /** Return only entities whose id is strictly greater than this; null on a fresh start. */
  readonly after: C | null;
  readonly signal: AbortSignal;
  /** The shard this run covers, when the processor defines `shards`: stop after its `to`. */
  readonly shard?: Shard;
}

/**
 * What you write to define a processor. See `defineProcessor`.
 * `E` is the entity type, `S` the state type, `Tx` the store's transaction handle, `C` the
 * cursor type: what `id()` returns and `entities` gets as `after`.
 */
export interface ProcessorDefinition<E, S = undefined, Tx = unknown, C extends Cursor = IdOf<E>> {
  /** A stable id: 1-128 characters, no control characters or surrounding spaces. */
  name: string;
  /** Bump when the meaning of the cursor or the state changes. @default 1 */
  version?: number;
  /**
   * Entities per batch (one checkpoint commit each), or adaptive sizing that keeps commit
   * overhead under a target. @default 50
   * @example batchSize: { adaptive: { targetOverhead: 0.01, min: 10, max: 5000 } }
   */
  batchSize?: BatchSizeOption;
  /** The partition's entities, ascending by id, strictly after `after`. */
  entities(args: EntitiesArgs<C>): EntitySource<E>;
  /** An entity's id: its cursor value. A finite number or a string. */
  id(entity: E): C;
  /** How many entities the partition has, for progress. Optional. */
  count?(args: { readonly partition: string }): number | Promise<number>;
  /** The state a fresh run starts from. @default undefined */
  initialState?(args: { readonly partition: string }): S;
  /** Does the work for one batch. Throwing fails the batch; nothing of it is committed. */
  processBatch(batch: E[], ctx: BatchContext<S, Tx>): void | Promise<void>;
  /** A checkpoint older than this is not resumed. @default 86_400_000 (24 h) */
  expiryMs?: number;
  /** What to do with a checkpoint written by another `version`. @default "restart" */
  onVersionMismatch?: "restart" | "fail";
  /** The largest state, encoded by its codec, that a checkpoint may carry. @default 1_048_576 */
  maxStateBytes?: number;
  /**
   * How state is written into the checkpoint and read back; its name is recorded in the row.
   * The default JSON codec refuses, at the first save, state JSON would change (Map, Set,
   * Date, class instances, functions, undefined, NaN, ±Infinity, -0, sparse arrays) with
   * `STATE_NOT_SERIALIZABLE` naming the path; `v8StateCodec` saves those (typed arrays of
   * model weights included) with node:v8.
   * @default jsonStateCodec
   * @example stateCodec: v8StateCodec
   */
  stateCodec?: StateCodec<S>;
  /** How long a lease lasts without renewal; commits and a heartbeat renew it. @default 30_000 */
  leaseTtlMs?: number;
  /**
   * How long one call of `processBatch` may take: past it, `ctx.signal` aborts with a
   * `BATCH_TIMEOUT` error and the call counts as a failed attempt, retried under `retry`. For a
   * batch that hangs on a socket that never answers. A run's `batchTimeoutMs` overrides it.
   * @default none (a batch may take as long as it takes)
   * @example batchTimeoutMs: 60_000
   */
  batchTimeoutMs?: number;
  /**
   * A value that changes when the partition's input changes (a data version, a hash of the
   * entity ids). Recorded with every commit; a different value on resume is input drift.
   */
  fingerprint?(args: { readonly partition: string }): string | Promise<string>;
  /**
   * What a resume does when the fingerprint differs from the checkpoint's: `restart` the
   * partition, `continue` after the cursor anyway, or `fail` with `INPUT_DRIFT`. A changed
   * `count()` alone is not drift: the run resumes with the new total.
   * @default "restart"
   */
  onDrift?: "restart" | "continue" | "fail";
  /**
   * Carries a checkpoint written by an older `version` forward instead of applying
   * `onVersionMismatch`. Return the new state (and cursor), or null to start over.
   */
  migrate?(
    checkpoint: CheckpointMigration,
  ): MigratedCheckpoint<S> | null | Promise<MigratedCheckpoint<S> | null>;
  /** The largest artifact, uncompressed, that `ctx.artifacts.put` accepts. @default 268_435_456 (256 MiB) */
  maxArtifactBytes?: number;
  /**
   * Splits one partition into ranges of the cursor space, each with a checkpoint of its own
   * (keyed by partition and shard id), run in parallel by `run(p, { partition, shard: id })` or one pg-boss job
   * per shard. Optional; without it a partition is one checkpoint. The ranges must cover the
   * space exactly once (no overlap, no gap), or every run of a shard is refused.
   * @example shards: () => [{ id: 0, to: 5000 }, { id: 1, from: 5000 }]
   */
  shards?(args: ShardsArgs): Shard[] | Promise<Shard[]>;
  /**
   * Names a point where the unclaimed rest of a running partition (or shard) can be cut in
   * two, so that an idle runner can take the second half (dynamic splitting). Return an id
   * strictly greater than `after` and below `to` (when `to` is not null), near the middle of
   * the range, or null when it cannot be split. The sources (`fromRange`, `fromQuery`,
   * `fromFile`) provide it; without it a partition is never split.
   * @example split: ({ after, to }) => (to - (after ?? 0) >= 200 ? Math.floor(((after ?? 0) + to) / 2) : null)
   */
  split?(args: SplitArgs<C>): C | null | Promise<C | null>;
  /**
   * How a failed batch is retried before the run fails; `false` for no retries. See
   * docs/resilience.md. @default { attempts: 3, initialDelayMs: 10_000, factor: 2, jitter: 0.1 }
   */
  retry?: RetryOptions | false;
  /**
   * A circuit breaker checked before every batch: when open, the run suspends with
   * `reason: "circuit-open"` instead of burning retries. Any object with `isOpen()`, an
   * opossum or a cockatiel breaker. A `breaker` run option overrides it.
   */
  breaker?: CircuitBreakerLike;
  /**
   * A rate limit shared through the store by every runner of the same key, in every process
   * and on every machine: each batch takes `cost` tokens (one per entity unless said
   * otherwise) before `processBatch`, waiting for their turn. Throw `RateLimitedError` on a
   * 429 to pause every runner of the key. An array declares several keys. A `quota` run
   * option overrides it. See docs/resilience.md.
   * @example quota: { key: "nba-api", limit: 100, per: "1s" }
   */
  quota?: QuotaOptions<E> | readonly QuotaOptions<E>[];
  /**
   * Decides, before the lease is taken, whether this run is needed at all; `false` ends it
   * `skipped` (recorded in history). `lastCompletedAt` is when the partition last completed.
   * @example shouldRun: async ({ partition, lastCompletedAt }) => (await changedAt(partition)) > (lastCompletedAt ?? 0)
   */
  shouldRun?(args: ShouldRunArgs): boolean | Promise<boolean>;
  /**
   * Skip entities that still fail after the retries: the batch is bisected to find them,
   * they are recorded in the failure ledger and the run goes on, up to `limit` per run.
   * @default undefined (a failing batch fails the run)
   */
  skip?: SkipOptions;
  /**
   * Fetches entities by id, for `waymark redrive` (which reprocesses only the ledger's
   * entities). Return the entities found, in any order.
   * @example lookup: (ids, { partition }) => db.players.findMany({ where: { id: { in: ids } } })
   */
  lookup?(
    ids: C[],
    args: { readonly partition: string; readonly shard?: Shard },
  ): Iterable<E> | Promise<Iterable<E>>;
}

/** Arguments of `shouldRun`. */
export interface ShouldRunArgs {
  readonly partition: string;
  /** When this (processor, partition) last completed, in epoch ms; null if never. */
  readonly lastCompletedAt: number | null;
}

/** A validated processor with its defaults filled in. Create one with `defineProcessor`. */
export interface Processor<E = unknown, S = unknown, Tx = unknown, C extends Cursor = Cursor>
  extends Readonly<
    Required<Omit<ProcessorDefinition<E, S, Tx, C>, OptionalHooks>> &
      Pick<ProcessorDefinition<E, S, Tx, C>, OptionalHooks>
  > {}

/** The hooks a processor may leave out: they have no default. */
type OptionalHooks =
  | "batchTimeoutMs"
  | "count"
  | "initialState"
  | "fingerprint"
  | "migrate"
  | "retry"
  | "breaker"
  | "quota"
  | "shouldRun"
  | "skip"
  | "lookup"
  | "shards"
  | "split"
  | "stateCodec";

const NAME_RULE =
  "use 1-128 characters with no control characters, unpaired surrogates or surrounding spaces";

const definitionSchema = z.strictObject({
  name: z
    .string({ error: `expected a string; ${NAME_RULE}` })
    .min(1, { error: `expected a non-empty name; ${NAME_RULE}` })
    .max(128, { error: `the name is too long; ${NAME_RULE}` })
    .refine((s) => s.trim() === s && !/[\p{Cc}\p{Cs}]/u.test(s), { error: NAME_RULE }),
  version: integerFrom(1, "bump it when the cursor or state changes meaning").optional(),
  batchSize: batchSizeSchema.optional(),
  entities: fn("expected a function ({ partition, after }) => entities after the cursor"),
  id: fn("expected a function (entity) => its cursor (a number or string)"),
  count: fn("expected a function ({ partition }) => number of entities").optional(),
  initialState: fn("expected a function ({ partition }) => the starting state").optional(),
  processBatch: fn("expected an async function (batch, ctx) that does the work"),
  expiryMs: integerFrom(1, "pass milliseconds, e.g. 86_400_000 for 24 hours").optional(),
  onVersionMismatch: z
    .enum(["restart", "fail"], { error: 'expected "restart" or "fail"' })
    .optional(),
  maxStateBytes: integerFrom(1, "pass a size in bytes, e.g. 1_048_576").optional(),
  stateCodec: z
    .custom<StateCodec>(
      (v) => {
        const codec = v as Partial<StateCodec> | null;
        return (
          typeof codec === "object" &&
          codec !== null &&
          typeof codec.name === "string" &&
          /^[\w.-]{1,64}$/.test(codec.name) &&
          typeof codec.encode === "function" &&
          typeof codec.decode === "function"
        );
      },
      {
        error:
          "expected { name, encode(state) => string, decode(text) => state } with a name of " +
          "1-64 letters, digits, _, - or ., e.g. v8StateCodec",
      },
    )
    .optional(),
  leaseTtlMs: integerFrom(1000, "pass milliseconds, e.g. 30_000").optional(),
  batchTimeoutMs: batchTimeoutSchema.optional(),
  retry: retrySchema.optional(),
  breaker: breakerSchema.optional(),
  quota: quotaSchema.optional(),
  shouldRun: fn("expected a function ({ partition, lastCompletedAt }) => boolean").optional(),
  skip: skipSchema.optional(),
  lookup: fn("expected a function (ids, { partition }) => the entities with those ids").optional(),
  fingerprint: fn("expected a function ({ partition }) => a string naming the input").optional(),
  onDrift: z
    .enum(["restart", "continue", "fail"], { error: 'expected "restart", "continue" or "fail"' })
    .optional(),
  migrate: fn(
    "expected a function ({ fromVersion, state, cursor, completed }) => { state, cursor? } or null",
  ).optional(),
  maxArtifactBytes: integerFrom(1, "pass a size in bytes, e.g. 268_435_456").optional(),
  shards: fn("expected a function ({ partition }) => [{ id, from?, to? }, …]").optional(),
  split: fn(
    "expected a function ({ partition, after, to, minimum }) => a split id or null",
  ).optional(),
});

/**
 * Defines a processor: where its entities come from and how one batch is processed.
 * Validates every option at once and throws an `InvalidOptionError` that names the option.
 *
 * Type arguments: the entity, the state, the store's `ctx.tx` handle (`SqliteTx`, `PgTx`,
 * `MemoryTx`; `run` refuses at compile time a store that does not provide it) and the cursor,
 * which follows the entity's `id` property by default (`after: number | null` for numeric
 * ids). Without type arguments, the cursor is inferred from `id` when its parameter is typed.
 *
 * @example
 * const summaries = defineProcessor({
 *   name: "player-game-summary",
 *   entities: ({ partition, after }) => fetchPlayers(partition, after),
 *   id: (player) => player.id,
 *   async processBatch(players, ctx) { await writeSummaries(players) },
 * });
 */
export function defineProcessor<E, S = undefined, Tx = unknown, C extends Cursor = IdOf<E>>(
  definition: ProcessorDefinition<E, S, Tx, C>,
): Processor<E, S, Tx, C> {
  try {
    parseOptions(definitionSchema, definition, processorLabel(definition));
  } catch (error) {
    // The fix is in the caller's definition: name the processor and point at the call.
    throw error instanceof Error ? atCallerOf(error, defineProcessor) : error;
  }
  return Object.freeze({
    version: 1,
    batchSize: 50,
    expiryMs: 86_400_000,
    onVersionMismatch: "restart",
    maxStateBytes: 1_048_576,
    leaseTtlMs: 30_000,
    onDrift: "restart",
    maxArtifactBytes: 268_435_456,
    ...withoutUndefined(definition),
  }) as Processor<E, S, Tx, C>;
}

/** `processor "summaries"` when the definition has a usable name, else `processor`. */
function processorLabel(definition: unknown): string {
  const name = (definition as { name?: unknown } | null)?.name;
  return typeof name === "string" && name.trim() !== "" && name.length <= 128
    ? `processor ${JSON.stringify(name)}`
    : "processor";
}

/** Drops keys set to `undefined`, so that `{ batchSize: undefined }` keeps the default. */
function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
