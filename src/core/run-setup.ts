import { performance } from "node:perf_hooks";
import { RunArtifacts } from "./artifacts.js";
import { BatchExecutor, type RunTally } from "./batch-executor.js";
import { checkpointKey, describeKey } from "./checkpoint-key.js";
import { InvalidOptionError } from "./errors.js";
import { withLogFields } from "./logger.js";
import type { RunMetrics } from "./metrics-hooks.js";
import type { OpenLedger } from "./open-ledger.js";
import { adaptBreaker, type BreakerAdapter } from "./policies/breaker.js";
import { DeadlinePlanner, resolveDeadline } from "./policies/deadline.js";
import type { RunQuota } from "./policies/quota.js";
import { setUpQuota } from "./policies/quota-setup.js";
import { type RetryPolicy, resolveRetry } from "./policies/retry.js";
import { RunStopper } from "./policies/stop.js";
import type { Processor } from "./processor.js";
import type { ResolvedRunOptions } from "./run-options.js";
import type { Shard } from "./shards.js";
import { GuardedStore } from "./store/guarded-store.js";
import type { LeaseHandle, RunStore } from "./store/run-store.js";
import type { CheckpointKey } from "./types.js";
import type { RunUnit } from "./unit.js";

/**
 * What one invocation (a run, or a redrive) executes its batches under, built once in one
 * place so that both go through the same batch executor with the same context: the logger
 * bound to the checkpoint and run id, the stops, the deadline plan, the breaker, the retry
 * policy and the artifacts.
 */
export interface RunSetup<E, S, Tx> {
  readonly processor: Processor<E, S, Tx>;
  /** The options, with the logger bound to `{ processor, partition, shard?, runId }`. */
  readonly options: ResolvedRunOptions;
  /**
   * The store, wrapped once for this invocation: every write it makes goes through here, and
   * a write whose reply was lost is read back before anything is retried or reported.
   */
  readonly store: GuardedStore<Tx>;
  readonly runId: string;
  /** What this invocation covers: the whole partition, a static shard or a split-off one. */
  readonly unit: RunUnit;
  /**
   * The shard the processor's hooks see (`ctx.shard`, `entities`' `shard`), or null for a
   * whole partition never split. Set when the lease is taken and moved by a split.
   */
  shard: Shard | null;
  readonly key: CheckpointKey;
  /** How messages name the checkpoint. */
  readonly where: string;
  readonly startedAt: number;
  readonly stopper: RunStopper;
  readonly planner: DeadlinePlanner | null;
  readonly breaker: BreakerAdapter | null;
  readonly retry: RetryPolicy;
  readonly artifacts: RunArtifacts;
  /** The run's quotas, or null without any. */
  readonly quota: RunQuota | null;
}

/** Builds the setup of one invocation; throws an `InvalidOptionError` for a hopeless deadline. */
export function setUpRun<E, S, Tx>(
  processor: Processor<E, S, Tx>,
  unit: RunUnit,
  resolved: ResolvedRunOptions,
  runId: string,
): RunSetup<E, S, Tx> {
  // Every line of the invocation, ctx.log's too, carries its checkpoint and run id.
  const logger = withLogFields(resolved.logger, {
    processor: processor.name,
    partition: resolved.partition,
    ...(unit.shard === "" ? {} : { shard: unit.shard }),
    runId,
  });
  const options = { ...resolved, logger };
  const key = checkpointKey(processor.name, options.partition, unit.shard);
  const where = describeKey(key);
  const startedAt = options.now();
  const deadline = resolveDeadline(options, startedAt);
  refuseDeadlineInsideMargin(deadline, startedAt, options.deadlineMarginMs);
  const breaker = options.breaker ?? processor.breaker;
  const run = { processor: processor.name, runId, where };
  const quota = setUpQuota(options.quota ?? processor.quota, options, run, (hook, call) =>
    emitMetric(options, hook, call),
  );
  const stopper = new RunStopper({ ...options, deadline }, where);
  const planner =
    deadline === null ? null : new DeadlinePlanner(deadline, options.deadlineMarginMs);
  return {
    processor,
    options,
    // run() checked the store against the processor's Tx at compile time.
    store: new GuardedStore(options.store as RunStore<Tx>, {
      sleep: options.sleep,
      logger,
      // Near the run's end its store calls get the time left, and no more.
      bound: () => stopper.storeBound(),
    }),
    runId,
    unit,
    shard: unit.definition,
    key,
    where,
    startedAt,
    stopper,
    planner,
    breaker: breaker ? adaptBreaker(breaker) : null,
    retry: resolveRetry(processor.retry),
    artifacts: new RunArtifacts(options.store, key, processor.maxArtifactBytes, options.now),
    quota: quota?.({ options, stopper, planner, where }) ?? null,
  };
}

/** The batch executor of an invocation holding `lease`. */
export function executorOf<E, S, Tx>(
  setup: RunSetup<E, S, Tx>,
  lease: LeaseHandle,
  tally: RunTally<S>,
  hooks: {
    readonly fingerprint: () => string | null;
    readonly onCommitted: (entities: number, commitMs: number) => void;
    readonly ledger?: OpenLedger | null;
  },
): BatchExecutor<E, S, Tx> {
  const now = setup.options.now;
  return new BatchExecutor({
    processor: setup.processor,
    options: setup.options,
    store: setup.store,
    lease,
    shardOf: () => setup.shard,
    where: setup.where,
    tally,
    stopper: setup.stopper,
    planner: setup.planner,
    breaker: setup.breaker,
    retry: setup.retry,
    // A simulation's clock measures its simulated batches; real runs use a monotonic clock.
    clock: now === Date.now ? () => performance.now() : now,
    artifacts: setup.artifacts,
    quota: setup.quota,
    ...hooks,
  });
}

/** Calls a metrics hook on every configured sink; a failing hook never fails the run. */
export function emitMetric(
  options: ResolvedRunOptions,
  hook: string,
  call: (metrics: RunMetrics) => void,
): void {
  for (const metrics of options.metrics ?? []) {
    try {
      call(metrics);
    } catch (error) {
      options.logger.warn(`Metrics hook ${hook} failed: ${(error as Error).message}`);
    }
  }
}

/**
 * Refuses a deadline that leaves no more than the margin when the run starts: such a run would
 * suspend before its first batch, and so would every re-invocation (a silent livelock).
 */
function refuseDeadlineInsideMargin(
  deadline: number | null,
  startedAt: number,
  marginMs: number,
): void {
  if (deadline === null || deadline - startedAt > marginMs) return;
  const left = deadline - startedAt;
  throw new InvalidOptionError(
    "deadline",
    `The deadline leaves ${left} ms when the run starts, no more than \`deadlineMarginMs\` ` +
      `(${marginMs} ms): the run would suspend before its first batch, and so would every ` +
      `run started with it. Pass a later deadline, or lower deadlineMarginMs below ${Math.max(0, left)}.`,
  );
}
