/**
 * The fault-injection scenario of the PostgreSQL store, shared by its test and by
 * `scripts/faults.ts`: workers run partitions through a proxy that cuts connections at seeded
 * points until enough faults were injected, and every run's report is checked against what
 * the store really holds (read around the proxy).
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { defineProcessor, type PgTx, PostgresStore, type RunResult, run } from "../../src/index.js";
import { type FaultKind, startFaultProxy } from "./fault-proxy.js";
import { noBackoff } from "./time.js";

/** Options of {@link runProxyScenario}. */
export interface ProxyScenarioOptions {
  /** The real server. */
  readonly url: string;
  readonly seed: number;
  /** Stop starting partitions once this many faults were injected. */
  readonly minFaults: number;
  /** Partitions run at once. @default 4 */
  readonly workers?: number;
  /** Entities per partition (batches of 10). @default 30 */
  readonly entities?: number;
}

/** What happened, and every guarantee that was broken (none, when all is well). */
export interface ProxyScenarioSummary {
  readonly faults: ReadonlyMap<FaultKind, number>;
  readonly faultCount: number;
  /** Run outcomes as `status CODE`, counted. */
  readonly outcomes: ReadonlyMap<string, number>;
  readonly partitions: number;
  readonly violations: readonly string[];
}

/** The chance of a cut per request of each kind: a few faults in every partition. */
const PROBABILITY: Partial<Record<FaultKind, number>> = {
  "before-begin": 0.15,
  "mid-transaction": 0.1,
  "commit-reply": 0.3,
  "completion-reply": 0.5,
  "statement-reply": 0.05,
  idle: 0.05,
};

/** Runs the scenario in a schema of its own, which it drops at the end. */
export async function runProxyScenario(
  options: ProxyScenarioOptions,
): Promise<ProxyScenarioSummary> {
  const entities = options.entities ?? 30;
  const schema = `t_${randomBytes(6).toString("hex")}`;
  const effects = `${schema}.effects`;
  const direct = new pg.Pool({ connectionString: options.url, max: 2 });
  const proxy = await startFaultProxy({
    target: options.url,
    seed: options.seed,
    probability: PROBABILITY,
    isCompletion: (sql) => /INSERT INTO \S+\.completions/i.test(sql),
  });
  const violations: string[] = [];
  const outcomes = new Map<string, number>();
  const partitions: string[] = [];
  proxy.enabled = false;
  const store = await PostgresStore.open({ connectionString: proxy.url, schema, poolSize: 8 });
  try {
    await direct.query(`CREATE TABLE ${effects} (partition TEXT NOT NULL, id INT NOT NULL)`);
    const appending = defineProcessor<number, undefined, PgTx>({
      name: "appending",
      batchSize: 10,
      retry: { attempts: 2, initialDelayMs: 1, jitter: 0 },
      leaseTtlMs: 5000,
      entities: ({ after }) =>
        Array.from({ length: entities }, (_, i) => i + 1).filter(
          (n) => after === null || n > Number(after),
        ),
      id: (n) => n,
      async processBatch(batch, ctx) {
        // One row per entity, appended: a batch written twice shows as doubled ids.
        await ctx.tx.query(`INSERT INTO ${effects} (partition, id) SELECT $1, unnest($2::int[])`, [
          ctx.partition,
          batch,
        ]);
      },
    });

    const check = async (partition: string, attempt: number, result: RunResult) => {
      const code = (result.error as { code?: string } | undefined)?.code;
      const label = `${result.status}${result.error ? ` ${code ?? result.error.message}` : ""}`;
      outcomes.set(label, (outcomes.get(label) ?? 0) + 1);
      if (result.status === "busy") return;
      const where = `${partition} run ${attempt} (${label})`;
      const held = await direct.query<{
        completed: string | null;
        completed_by: string | null;
        holder_run: string | null;
      }>(
        `SELECT (SELECT completed FROM ${schema}.checkpoints
                 WHERE processor = 'appending' AND partition = $1) AS completed,
                (SELECT run_id FROM ${schema}.checkpoints
                 WHERE processor = 'appending' AND partition = $1) AS holder_run,
                (SELECT run_id FROM ${schema}.completions
                 WHERE processor = 'appending' AND partition = $1) AS completed_by`,
        [partition],
      );
      const stored = held.rows[0];
      const completed = stored?.completed === null ? null : Number(stored?.completed);
      if (result.status === "completed") {
        if (completed !== null) violations.push(`${where}: its checkpoint is still there`);
        if (stored?.completed_by !== result.runId) {
          violations.push(`${where}: reported completed, but the store's completion is not its`);
        }
      } else {
        if (stored?.completed_by === result.runId) {
          violations.push(`${where}: its completion landed, yet it reported ${result.status}`);
        }
        // A run whose claim never landed (every attempt cut) never read the checkpoint: what
        // it holds is an earlier run's, not this one's to report.
        const claimed = stored?.holder_run === result.runId || completed === null;
        if (claimed && (completed ?? 0) !== result.completed) {
          violations.push(
            `${where}: reported ${result.completed} done, the store holds ${completed}`,
          );
        }
      }
      const history = await direct.query<{ status: string; processed: string }>(
        `SELECT status, processed FROM ${schema}.runs WHERE run_id = $1`,
        [result.runId],
      );
      const row = history.rows[0];
      if (row?.status !== result.status || Number(row?.processed) !== result.processed) {
        violations.push(
          `${where}: history says ${row?.status}/${row?.processed}, ` +
            `the run ${result.status}/${result.processed}`,
        );
      }
    };

    const complete = async (partition: string) => {
      for (let attempt = 1; attempt <= 50; attempt++) {
        const result = await run(appending, { store, partition, logger: false, sleep: noBackoff });
        await check(partition, attempt, result);
        if (result.status === "completed") return;
      }
      violations.push(`${partition}: no completion after 50 runs`);
    };

    proxy.enabled = true;
    await Promise.all(
      Array.from({ length: options.workers ?? 4 }, async () => {
        while (proxy.faults.length < options.minFaults && violations.length === 0) {
          const partition = `p${partitions.length}`;
          partitions.push(partition);
          await complete(partition);
        }
      }),
    );
    proxy.enabled = false;

    const rows = await direct.query<{ partition: string; id: number; n: string }>(
      `SELECT partition, id, count(*) AS n FROM ${effects} GROUP BY partition, id`,
    );
    for (const r of rows.rows) {
      if (Number(r.n) !== 1) violations.push(`${r.partition}: id ${r.id} written ${r.n} times`);
    }
    if (rows.rows.length !== partitions.length * entities) {
      violations.push(`${partitions.length * entities - rows.rows.length} ids never written`);
    }
  } finally {
    proxy.enabled = false;
    await store.close();
    await proxy.close();
    await direct.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await direct.end();
  }
  const faults = new Map<FaultKind, number>();
  for (const f of proxy.faults) faults.set(f.kind, (faults.get(f.kind) ?? 0) + 1);
  return {
    faults,
    faultCount: proxy.faults.length,
    outcomes,
    partitions: partitions.length,
    violations,
  };
}
