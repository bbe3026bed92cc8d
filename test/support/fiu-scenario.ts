/**
 * The I/O-fault scenario of the SQLite store, shared by its test and by `scripts/faults.ts`:
 * a child under `fiu-run` runs partitions again and again with one armed fault per run
 * (`test/fixtures/sqlite-fault-child.ts`); the parent checks each run's report, then the file.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineProcessor, run, SqliteStore, type SqliteTx } from "../../src/index.js";
import { spawnUnderFiu } from "./fiu.js";

const CHILD = fileURLToPath(new URL("../fixtures/sqlite-fault-child.ts", import.meta.url));

/** One run of the child, as it reports it. */
interface ChildRun {
  event: "run";
  i: number;
  partition: string;
  armAt: string | number | null;
  armed?: boolean;
  runId?: string;
  status?: string;
  completed?: number;
  error?: { name: string; code?: string; message: string };
  thrown?: { name: string; code?: string; message: string };
  stored: number | null;
  lastCompletedAt: number | null;
  history: string | null;
}

/** What happened, and every guarantee that was broken. */
export interface FiuScenarioSummary {
  /** Faults that fired, by where and the error they gave. */
  readonly outcomes: ReadonlyMap<string, number>;
  readonly faultCount: number;
  readonly runs: number;
  readonly violations: readonly string[];
}

const TOTAL = 40;
const BATCH = 10;

/** The child's processor, for finishing its last partition without faults. */
export const appendingSqlite = defineProcessor<number, undefined, SqliteTx>({
  name: "faulty",
  batchSize: BATCH,
  retry: false,
  entities: ({ after }) =>
    Array.from({ length: TOTAL }, (_, i) => i + 1).filter(
      (n) => after === null || n > Number(after),
    ),
  id: (n) => n,
  processBatch(batch, ctx) {
    for (const n of batch) {
      ctx.tx.run("INSERT INTO effects (partition, id) VALUES (?, ?)", ctx.partition, n);
    }
  },
});

/** Runs the child on `dir/fiu.db` for `runs` runs, then checks the file. */
export async function runFiuScenario(options: {
  dir: string;
  seed: number;
  runs: number;
}): Promise<FiuScenarioSummary> {
  const file = join(options.dir, "fiu.db");
  const child = spawnUnderFiu(CHILD, [], {
    CONFIG: JSON.stringify({
      file,
      seed: options.seed,
      runs: options.runs,
      total: TOTAL,
      batchSize: BATCH,
    }),
  });
  let out = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  const violations: string[] = [];
  if (code !== 0)
    return {
      outcomes: new Map(),
      faultCount: 0,
      runs: 0,
      violations: [`child exited ${code}: ${out}`],
    };
  const events = out
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const outcomes = new Map<string, number>();
  const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);

  // A new store opened while the disk fails: a typed error, never a secondary one.
  const opens = events.filter((e) => e.event === "open");
  for (const open of opens) {
    const thrown = open.thrown as ChildRun["thrown"];
    if (thrown?.name !== "StoreError" || !/^STORE_(IO_ERROR|FULL)$/.test(String(thrown.code))) {
      violations.push(`new store under ${open.fault}: ${JSON.stringify(thrown ?? open)}`);
    } else {
      count(`new store: ${thrown.code}`);
    }
  }

  const runs = events.filter((e) => e.event === "run") as unknown as ChildRun[];
  const lastStored = new Map<string, number>();
  let faultCount = opens.length;
  for (const r of runs) {
    const where = `run ${r.i} (${r.partition}, fault at ${r.armAt})`;
    if (r.armed) {
      faultCount++;
      const error = r.error ?? r.thrown;
      const phase =
        r.armAt === "open" ? "open" : r.armAt === "completion" ? "completion" : "commit";
      if (error?.name !== "StoreError" || !/^STORE_(IO_ERROR|FULL)$/.test(String(error.code))) {
        violations.push(`${where}: not a typed store error: ${JSON.stringify(error)}`);
      } else if (!error.message.includes(file)) {
        violations.push(`${where}: the message does not name the file`);
      }
      if (r.status !== undefined && r.status !== "failed") {
        violations.push(`${where}: ended ${r.status}, not failed`);
      }
      count(`${phase}: ${error?.code}`);
    } else if (r.status !== "completed") {
      violations.push(`${where}: no fault, yet ${r.status}: ${JSON.stringify(r.error)}`);
    }
    if (r.status !== undefined) {
      // What the run reported is what the store holds, and history says the same.
      if (r.status === "completed" && (r.stored !== null || r.lastCompletedAt === null)) {
        violations.push(`${where}: completed, but the store still holds ${r.stored}`);
      }
      if (r.status !== "completed" && r.completed !== r.stored) {
        violations.push(`${where}: reported ${r.completed}, the store holds ${r.stored}`);
      }
      if (r.history !== r.status) violations.push(`${where}: history says ${r.history}`);
    }
    if (r.stored !== null) {
      const before = lastStored.get(r.partition) ?? 0;
      if (r.stored < before)
        violations.push(`${where}: progress went back from ${before} to ${r.stored}`);
      lastStored.set(r.partition, r.stored);
    }
  }

  // Finish the last partition without faults, then check the whole file.
  const store = new SqliteStore(file);
  try {
    const partitions = [...new Set(runs.map((r) => r.partition))];
    for (const partition of partitions) {
      if (runs.filter((r) => r.partition === partition).at(-1)?.status === "completed") continue;
      const result = await run(appendingSqlite, { store, partition, logger: false });
      if (result.status !== "completed") violations.push(`${partition}: could not be finished`);
    }
    const integrity = store.database.pragma("integrity_check", { simple: true });
    if (integrity !== "ok") violations.push(`integrity_check: ${String(integrity)}`);
    const rows = store.database
      .prepare("SELECT partition, id, count(*) AS n FROM effects GROUP BY partition, id")
      .all() as Array<{ partition: string; id: number; n: number }>;
    for (const r of rows) {
      if (r.n !== 1) violations.push(`${r.partition}: id ${r.id} written ${r.n} times`);
    }
    if (rows.length !== partitions.length * TOTAL) {
      violations.push(`${partitions.length * TOTAL - rows.length} ids never written`);
    }
  } finally {
    await store.close();
  }
  return { outcomes, faultCount, runs: runs.length, violations };
}
