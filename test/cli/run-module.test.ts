import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ROOT } from "./cli.js";

const BIN = join(ROOT, "dist", "cli", "main.js");

/** A processor in TypeScript that plain node cannot run: an enum and type annotations. */
const MODULE = `import { defineProcessor } from "waymark";
enum Kind { Visit = "visit" }
export const visits = defineProcessor<number>({
  name: "visits",
  entities: ({ after }) => [1, 2, 3].filter((n) => after === null || n > (after as number)),
  id: (n: number) => n,
  async processBatch(batch: number[]) { console.error(Kind.Visit, batch.length); },
});
`;

/**
 * What a user's project sees: the built CLI run by plain node (no loader of ours), a `.ts`
 * module of theirs, and tsx installed in their project or not.
 */
describe("waymark run MODULE.ts from an installed waymark", () => {
  let dir: string;
  before(() => {
    if (!existsSync(join(ROOT, "dist", "cli", "commands", "run.js"))) {
      execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: "ignore" });
    }
    dir = mkdtempSync(join(tmpdir(), "waymark-project-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A project folder; `esm: false` leaves out `"type": "module"`, as `npm init` does. */
  function project(name: string, withTsx: boolean, esm = true): string {
    const root = join(dir, name);
    mkdirSync(join(root, "node_modules"), { recursive: true });
    writeFileSync(
      join(root, "package.json"),
      JSON.stringify(esm ? { name, type: "module" } : { name }),
    );
    writeFileSync(join(root, "jobs.ts"), MODULE);
    symlinkSync(ROOT, join(root, "node_modules", "waymark"), "dir");
    if (withTsx) {
      symlinkSync(join(ROOT, "node_modules", "tsx"), join(root, "node_modules", "tsx"), "dir");
    }
    return root;
  }

  const waymark = (cwd: string, nodeFlags: string[] = []) =>
    spawnSync(
      process.execPath,
      [...nodeFlags, BIN, "run", "jobs.ts", "--partition", "a", "--store", "memory:", "--quiet"],
      { cwd, encoding: "utf8", env: { ...process.env, WAYMARK_STORE: "" } },
    );

  it("loads it through the project's tsx", () => {
    const result = waymark(project("with-tsx", true));
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /visit 3/, "the enum ran");
  });

  it("loads it in a project that is not an ES module package (npm init's default)", () => {
    // Node takes such a .ts file for CommonJS: tsx must hook require as well as import.
    const result = waymark(project("commonjs-with-tsx", true, false));
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /visit 3/, "the enum ran");
  });

  it("without tsx, exits 2 and names the install command", () => {
    const result = waymark(project("without-tsx", false));
    assert.equal(result.status, 2, result.stderr);
    assert.match(
      result.stderr,
      /Cannot load jobs\.ts: TypeScript modules are loaded through tsx, which is not installed in this project\. Install it with `npm install --save-dev tsx`/,
    );
  });

  it("names where a module threw while loading, not the shape of its exports", () => {
    const root = project("throws", false);
    writeFileSync(join(root, "jobs.js"), 'import "./config.js";\nexport {};\n');
    writeFileSync(join(root, "config.js"), "const env = undefined;\nexport const url = env.url;\n");
    const result = spawnSync(
      process.execPath,
      [BIN, "run", "jobs.js", "--partition", "a", "--store", "memory:"],
      {
        cwd: root,
        encoding: "utf8",
        env: { ...process.env, WAYMARK_STORE: "", WAYMARK_DEBUG: "" },
      },
    );
    assert.equal(result.status, 2, result.stderr);
    assert.match(
      result.stderr,
      /Cannot import jobs\.js: TypeError: Cannot read properties of undefined \(reading 'url'\) \(at file:\/\/.*config\.js:2:\d+\)/,
    );
    assert.doesNotMatch(result.stderr, /exports processors/);
  });

  // `node --import ./instrument.mjs` (tracing, metrics) preloads a module that loads no
  // TypeScript: the project's tsx still loads the processors.
  function preloaded(name: string, withTsx: boolean): { root: string; flags: string[] } {
    const root = project(name, withTsx);
    writeFileSync(join(root, "instrument.mjs"), "globalThis.instrumented = true;\n");
    return { root, flags: ["--import", "./instrument.mjs"] };
  }

  it("with a preload that is no loader, still loads it through the project's tsx", () => {
    const { root, flags } = preloaded("preload-with-tsx", true);
    const result = waymark(root, flags);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /visit 3/, "the enum ran");
  });

  it("with a preload that is no loader and without tsx, names the install command", () => {
    const { root, flags } = preloaded("preload-without-tsx", false);
    const result = waymark(root, flags);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /which is not installed in this project/);
  });
});
