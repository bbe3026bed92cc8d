import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { buildProgram } from "../../src/cli/program.js";
import { exitCodeOf } from "../../src/cli/shared.js";
import { SqliteStore } from "../../src/index.js";
import { until } from "../support/time.js";
import { type CliResult, ROOT, startWaymark, waymark } from "./cli.js";

const MODULE = fileURLToPath(new URL("../fixtures/backfill-processors.ts", import.meta.url));
const ENTITIES = 50;
const TEN_DAYS = ["--from", "2024-01-01", "--to", "2024-01-10"];

/** The `effects` rows the fixture wrote through `ctx.tx`: `processor partition entity` → writes. */
function effects(db: string): Map<string, number> {
  const database = new Database(db, { readonly: true });
  try {
    const rows = database
      .prepare("SELECT processor, partition, entity, writes FROM effects")
      .all() as Array<{ processor: string; partition: string; entity: number; writes: number }>;
    return new Map(rows.map((r) => [`${r.processor} ${r.partition} ${r.entity}`, r.writes]));
  } finally {
    database.close();
  }
}

/** Every entity of `partitions` written exactly once by `processor`, nothing else. */
function assertExactlyOnce(db: string, processor: string, partitions: readonly string[]) {
  const written = effects(db);
  assert.equal(written.size, partitions.length * ENTITIES, "one row per entity");
  for (const partition of partitions) {
    for (let n = 1; n <= ENTITIES; n++) {
      assert.equal(written.get(`${processor} ${partition} ${n}`), 1, `${partition} ${n} once`);
    }
  }
}

/** Parses `waymark ARGS` in this process: the exit code main.ts would give, and the message. */
async function inProcess(args: string[]): Promise<{ code: number; message: string }> {
  const program = buildProgram("0.0.0");
  let message = "";
  program.configureOutput({ writeErr: (text) => (message += text), writeOut: () => {} });
  for (const command of program.commands) {
    command.configureOutput({ writeErr: (text) => (message += text), writeOut: () => {} });
  }
  try {
    await program.parseAsync(["node", "waymark", ...args]);
    return { code: 0, message };
  } catch (error) {
    const code = (error as { code?: string }).code ?? "";
    if (code.startsWith("commander.")) return { code: 2, message };
    return { code: exitCodeOf(error), message: (error as Error).message };
  }
}

function tenDays(): string[] {
  return Array.from({ length: 10 }, (_, i) => `2024-01-${String(i + 1).padStart(2, "0")}`);
}

describe("waymark run", () => {
  let dir: string;
  let db: string;
  let store: string[];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "waymark-run-"));
    db = join(dir, "waymark.db");
    store = ["--store", `sqlite:${db}`];
    const database = new Database(db);
    database.exec(`CREATE TABLE effects (processor TEXT, partition TEXT, entity INTEGER,
      writes INTEGER, PRIMARY KEY (processor, partition, entity))`);
    database.close();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const run = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
    waymark(["run", MODULE, ...args, ...store], { env });

  it("runs one processor of a TypeScript module over ten days, four at once: exit 0", async () => {
    const result = await run(["visits", ...TEN_DAYS, "--concurrency", "4"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^visits: 10 partitions: 10 completed in \S+; 500 entities/m);
    assertExactlyOnce(db, "visits", tenDays());
  });

  it("after SIGKILL mid-backfill, the same command finishes it: exactly once, nothing redone", async () => {
    // 100 ms a batch: a partition takes half a second, the backfill about two.
    const env = { BATCH_DELAY_MS: "100", LEASE_TTL_MS: "1000" };
    const args = ["run", MODULE, "visits", ...TEN_DAYS, "--concurrency", "4", ...store];
    const cli = startWaymark(args, { env });
    await cli.waitFor(/Completed visits\/2024-01-\d\d/);
    cli.child.kill("SIGKILL");
    assert.equal((await cli.exited).code, null, "killed");
    const killedAt = Date.now();
    const completed = () => {
      const read = new Database(db, { readonly: true });
      const rows = read
        .prepare("SELECT partition FROM completions WHERE processor = 'visits'")
        .all() as Array<{ partition: string }>;
      read.close();
      return rows.map((r) => r.partition);
    };
    const done = completed();
    assert.ok(done.length > 0 && done.length < 10, `killed mid-backfill (${done.length} done)`);
    // A killed run's lease lapses after a second: until then its partition is busy (exit 75),
    // as a scheduler would see it; it runs the command again. Each rerun completes what is
    // not busy, so the last one finds done what every earlier one completed.
    let rerun: CliResult | undefined;
    let doneBefore = done.length;
    await until("the rerun completes the backfill", async () => {
      doneBefore = completed().length;
      rerun = await waymark(args, { env });
      assert.ok(rerun.code === 0 || rerun.code === 75, rerun.stderr);
      return rerun.code === 0;
    });
    assert.match(rerun?.stdout ?? "", new RegExp(`${doneBefore} already completed`));
    assertExactlyOnce(db, "visits", tenDays());
    const after = new Database(db, { readonly: true });
    const redone = after
      .prepare("SELECT partition FROM runs WHERE processor = 'visits' AND started_at >= ?")
      .all(killedAt) as Array<{ partition: string }>;
    after.close();
    for (const { partition } of redone) {
      assert.ok(!done.includes(partition), `${partition} completed before the kill, not redone`);
    }
  });

  it("exits 1 when a partition fails, naming it and its error", async () => {
    const result = await run(["visits", "--partitions", "a,b,c"], { FAIL_PARTITION: "b" });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /2 completed, 1 failed/);
    assert.match(result.stdout, /failed\s+b\s+at 30\/50: no data for b past entity 25/);
  });

  it("exits 75 when the time budget suspends a partition", async () => {
    // 300 ms a batch, 5 batches a partition: a 4 s budget (1 s kept free) cannot fit three.
    const slow = { BATCH_DELAY_MS: "300" };
    const result = await run(["visits", "--partitions", "a,b,c", "--time-budget", "4s"], slow);
    assert.equal(result.code, 75, result.stdout + result.stderr);
    assert.match(result.stdout, /suspended\s+[abc]\s+deadline at \d+\/50/);
    const written = effects(db);
    assert.ok(written.size < 150, "not everything was done");
    for (const [key, writes] of written) assert.equal(writes, 1, `${key} once`);
  });

  it("exits 75 when another runner still holds a partition at the end of the time budget", async () => {
    const holder = new SqliteStore(db);
    try {
      const held = await holder.acquire({
        processor: "visits",
        partition: "b",
        shard: "",
        owner: "another-host:1",
        runId: "another-run",
        leaseTtlMs: 600_000,
        now: Date.now(),
      });
      assert.ok(held.acquired);
    } finally {
      await holder.close();
    }
    // It waits for the holder within its time budget, then says who holds b and until when.
    const result = await run(["visits", "--partitions", "a,b", "--time-budget", "3s"]);
    assert.equal(result.code, 75, result.stderr);
    assert.match(result.stdout, /busy\s+b\s+held by another-host:1 until \d{4}-\d\d-\d\dT/);
  });

  it("exits 2 for bad usage, saying what to pass", async () => {
    // In this process: a child per case would cost seconds each for the same code path.
    const cases: Array<[string[], RegExp]> = [
      [["visits"], /Say which partitions: --partition P/],
      [["visits", "--partition", "a", "--from", "2024-01-01"], /not several/],
      [["visits", "--from", "2024-01-01"], /--from needs --to too/],
      [["visits", "--from", "2024-01-10", "--to", "2024-01-01"], /before/],
      [["visits", "--from", "2024-02-30", "--to", "2024-03-01"], /YYYY-MM-DD/],
      [["visits", "--partition", "a", "--concurrency", "0"], /--concurrency expects a whole/],
      [["visits", "--partition", "a", "--concurrency", "1e3"], /from 1 to 256, got "1e3"/],
      [["visits", "--partition", "a", "--concurrency", "300"], /from 1 to 256/],
      [["visits", "--partition", ""], /--partition "": expected a non-empty partition/],
      [
        ["visits", "--partitions", `a,${"x".repeat(300)}`],
        /--partitions "x+": the partition is too long/,
      ],
      [["visits", "--partition", "a", "--time-budget", "soon"], /Invalid --time-budget "soon"/],
      [["visits", "--partition", "a", "--deadline", "tomorrow"], /--deadline expects an ISO/],
      [["visits", "--partition", "a", "--deadline", "2020-01-01T00:00:00Z"], /has passed/],
      [
        ["visits", "--partition", "a", "--time-budget", "500"],
        /--time-budget 500 ms leaves no time/,
      ],
      [["visits", ...TEN_DAYS, "--step", "36h"], /not a whole number of days/],
      [["--partition", "a"], /exports 2 processors \(orders, visits\); name the one/],
      [["invoices", "--partition", "a"], /exports no processor named "invoices"/],
      [[join(dir, "nope.ts"), "--partition", "a"], /Cannot find .*nope\.ts/],
      [["visits", "--partition", "a", "--bogus"], /unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const module = args[0]?.endsWith(".ts") ? [] : [MODULE];
      const result = await inProcess(["run", ...module, ...args, ...store]);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.message}`);
      assert.match(result.message, message, args.join(" "));
    }
    assert.deepEqual(effects(db), new Map(), "nothing ran");
    // And once for real: the process exits 2 with the message on stderr.
    const child = await run(["visits"]);
    assert.equal(child.code, 2);
    assert.match(child.stderr, /Say which partitions/);
  });

  it("exits 3 when the store cannot be opened", async () => {
    const unreachable = "postgres://nobody@127.0.0.1:1/none";
    const result = await waymark([
      "run",
      MODULE,
      "visits",
      "--partition",
      "a",
      "--store",
      unreachable,
    ]);
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /Cannot open store postgres:\/\/nobody@127\.0\.0\.1:1\/none/);
    const unknown = await inProcess([
      "run",
      MODULE,
      "visits",
      "--partition",
      "a",
      "--store",
      "x:y",
    ]);
    assert.equal(unknown.code, 3);
    assert.match(unknown.message, /Unknown store URL "x:y"/);
  });

  it("SIGTERM stops every run at its batch boundary and exits 75; a rerun finishes", async () => {
    const cli = startWaymark(
      ["run", MODULE, "visits", ...TEN_DAYS, "--concurrency", "4", ...store],
      {
        env: { BATCH_DELAY_MS: "100" },
      },
    );
    await cli.waitFor(/Completed visits\/2024-01-0\d/);
    cli.child.kill("SIGTERM");
    const stopped = await cli.exited;
    assert.equal(stopped.code, 75, stopped.stderr);
    assert.match(stopped.stderr, /SIGTERM, stopping visits at the next batch boundary/);
    assert.match(stopped.stdout, /suspended\s+2024-01-\d\d\s+signal at \d+\/50/);
    const written = effects(db);
    assert.ok(written.size > 0 && written.size < 500, `partly done: ${written.size}`);
    for (const [key, writes] of written) assert.equal(writes, 1, `${key} once`);
    const rerun = await run(["visits", ...TEN_DAYS, "--concurrency", "4"]);
    assert.equal(rerun.code, 0, rerun.stderr);
    assertExactlyOnce(db, "visits", tenDays());
  });

  it("refuses a PROCESSOR that picks two processors, or a name two processors share", async () => {
    const write = (name: string, body: string) => {
      const file = join(dir, name);
      writeFileSync(
        file,
        `import { defineProcessor } from ${JSON.stringify(join(ROOT, "src", "index.ts"))};
const make = (name: string) =>
  defineProcessor({ name, entities: () => [1], id: (n: number) => n, processBatch() {} });
${body}`,
      );
      return file;
    };
    const crossed = write(
      "crossed.ts",
      'export const alpha = make("beta");\nexport const beta = make("alpha");\n',
    );
    const twins = write(
      "twins.ts",
      'export const one = make("same");\nexport const two = make("same");\n',
    );
    const keyed = write(
      "keyed.ts",
      'export default { first: make("one"), second: make("two") };\n',
    );
    const picked = async (file: string, name: string) =>
      inProcess(["run", file, name, "--partition", "a", "--store", "memory:"]);
    const ambiguous = await picked(crossed, "alpha");
    assert.equal(ambiguous.code, 2, ambiguous.message);
    assert.match(ambiguous.message, /"alpha" picks two processors/);
    const shared = await picked(twins, "same");
    assert.equal(shared.code, 2, shared.message);
    assert.match(shared.message, /exports two processors named "same"/);
    // A key of a default-exported object is the name it is exported under.
    const byKey = await waymark(["run", keyed, "second", "--partition", "a", "--store", "memory:"]);
    assert.equal(byKey.code, 0, byKey.stderr);
    assert.match(byKey.stdout, /^two: 1 partition: 1 completed/m);
  });

  it("exits after its summary though the module left a timer and a batch hanging", async () => {
    // A module-level pool or interval, and a batch that ignores ctx.signal past the deadline.
    const module = join(dir, "lingering.ts");
    writeFileSync(
      module,
      `import { defineProcessor } from ${JSON.stringify(join(ROOT, "src", "index.ts"))};
setInterval(() => {}, 1000);
export const lingering = defineProcessor({
  name: "lingering",
  batchSize: 2,
  entities: () => [1, 2, 3, 4],
  id: (n: number) => n,
  async processBatch(batch: number[]) {
    if (batch[0] === 3) await new Promise((resolve) => setTimeout(resolve, 3_600_000));
  },
});
`,
    );
    const started = performance.now();
    const result = await waymark(
      ["run", module, "--partition", "a", "--time-budget", "3s", ...store],
      { timeoutMs: 60_000 },
    );
    assert.equal(result.code, 75, result.stderr);
    assert.match(result.stdout, /suspended\s+a\s+deadline at 2\/4/);
    assert.ok(performance.now() - started < 30_000, "it did not wait for the timers");
  });

  it("a second SIGTERM exits at once with 143", async () => {
    const cli = startWaymark(["run", MODULE, "visits", "--partition", "a", ...store], {
      // Batches of 10 s: only a second signal can end this run quickly.
      env: { BATCH_DELAY_MS: "10000" },
    });
    await cli.waitFor(/Running visits on 1 partition/);
    cli.child.kill("SIGTERM");
    await cli.waitFor(/again to exit at once/);
    const secondAt = performance.now();
    cli.child.kill("SIGTERM");
    const result = await cli.exited;
    assert.equal(result.code, 143, result.stderr);
    const waited = performance.now() - secondAt;
    assert.ok(waited < 5000, `exited ${Math.round(waited)} ms after the second signal`);
  });
});
