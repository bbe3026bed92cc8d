import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildProgram } from "../../src/cli/program.js";
import { defaultStoreUrl } from "../../src/cli/shared.js";
import { DEFAULT_STORE_URL, defineProcessor, openStore, run } from "../../src/index.js";
import { startWaymark, waymark } from "./cli.js";

describe("every command's default store, log lines and --json", () => {
  let dir: string;
  let url: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "waymark-defaults-"));
    url = `sqlite:${join(dir, "waymark.db")}`;
    const store = await openStore(url);
    await run(
      defineProcessor({
        name: "seen",
        entities: () => [1, 2],
        id: (n: number) => n,
        processBatch() {},
      }),
      { store, logger: false },
    );
    await store.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("defaults to WAYMARK_STORE, then a PostgreSQL DATABASE_URL, then the SQLite file", () => {
    const pg = "postgres://app@db.internal:5432/app";
    assert.equal(
      defaultStoreUrl({ WAYMARK_STORE: "sqlite:a.db", DATABASE_URL: pg }),
      "sqlite:a.db",
    );
    assert.equal(defaultStoreUrl({ DATABASE_URL: pg }), pg);
    assert.equal(
      defaultStoreUrl({ DATABASE_URL: "postgresql://app@db/app" }),
      "postgresql://app@db/app",
    );
    assert.equal(defaultStoreUrl({ DATABASE_URL: "mysql://app@db/app" }), DEFAULT_STORE_URL);
    assert.equal(defaultStoreUrl({}), DEFAULT_STORE_URL);
    // Every command that takes --store says so in its help.
    const program = buildProgram("0.0.0");
    const withStore = program.commands.filter((c) => c.options.some((o) => o.long === "--store"));
    assert.ok(withStore.length >= 12);
    for (const command of withStore) {
      if (command.name() === "demo") continue; // a demo never writes into a real store by default
      const help = command.helpInformation().replace(/\s+/g, " ");
      assert.match(
        help,
        /\$WAYMARK_STORE, else \$DATABASE_URL when it is a postgres:\/\/ URL, else sqlite:\.waymark\/waymark\.db/,
        command.name(),
      );
    }
  });

  it("a command reads WAYMARK_STORE, and DATABASE_URL when it is a PostgreSQL URL", async () => {
    const [fromStore, fromDatabaseUrl, both] = await Promise.all([
      waymark(["runs", "--json"], { env: { WAYMARK_STORE: url } }),
      waymark(["runs", "--json"], { env: { DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" } }),
      waymark(["runs", "--json"], {
        env: { WAYMARK_STORE: url, DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" },
      }),
    ]);
    assert.equal(fromStore.code, 0, fromStore.stderr);
    assert.deepEqual(
      (JSON.parse(fromStore.stdout) as Array<{ processor: string }>).map((r) => r.processor),
      ["seen"],
    );
    assert.equal(fromDatabaseUrl.code, 3, "the PostgreSQL server of DATABASE_URL is down");
    assert.match(fromDatabaseUrl.stderr, /127\.0\.0\.1:1/);
    assert.equal(both.code, 0, both.stderr);
    assert.equal(both.stdout, fromStore.stdout);
  });

  it("log lines go to stderr and output to stdout; WAYMARK_LOG=json makes them JSON", async () => {
    const module = join(dir, "jobs.ts");
    const index = new URL("../../src/index.ts", import.meta.url).href;
    writeFileSync(
      module,
      `import { defineProcessor } from ${JSON.stringify(index)};
export const job = defineProcessor({ name: "job", batchSize: 5, entities: () => [1, 2, 3, 4, 5, 6, 7], id: (n: number) => n, processBatch() {} });`,
    );
    const text = await waymark(["run", module, "--partition", "p", "--store", url], {
      env: { WAYMARK_DEBUG: "1" },
    });
    assert.equal(text.code, 0, text.stderr);
    assert.doesNotMatch(text.stdout, /\[waymark\]/, "no log line on stdout");
    assert.match(
      text.stderr,
      /^\[waymark\] Committed batch 2 of job\/p: 2 entities to cursor 7, 7\/7 complete/m,
    );
    const json = await waymark(["run", module, "--partition", "q", "--store", url], {
      env: { WAYMARK_LOG: "json" },
    });
    assert.equal(json.code, 0, json.stderr);
    const lines = json.stderr
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(lines.some((l) => l.level === "info" && /^Completed job\/q/.test(String(l.message))));
    assert.ok(
      lines
        .filter((l) => l.processor === "job")
        .every((l) => l.partition === "q" && typeof l.runId === "string"),
    );
  });

  it("an unknown WAYMARK_LOG is a usage error that names it", async () => {
    const result = await waymark(["status", "--store", "memory:"], { env: { WAYMARK_LOG: "xml" } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /WAYMARK_LOG="xml": expected "json"/);
  });

  it("dashboard --json prints its URL as JSON on stdout", async () => {
    const live = startWaymark(["dashboard", "--port", "0", "--store", url, "--json"]);
    try {
      await live.waitFor(/"url"/, 20_000);
      const { url: page, writes } = JSON.parse(live.output.stdout) as {
        url: string;
        writes: boolean;
      };
      assert.match(page, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.equal(writes, false);
      assert.equal((await fetch(page)).status, 200);
    } finally {
      live.child.kill("SIGTERM");
      assert.equal((await live.exited).code, 0);
    }
  });
});
