import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { buildProgram } from "../../src/cli/program.js";
import { ROOT } from "./cli.js";

interface PackedFile {
  path: string;
}

/**
 * What `npm install waymark` gets: the packed file list and the built bin. The build itself is
 * `npm run build` (CI runs it before the tests; `npm install` runs it through `prepare`).
 */
describe("the published package", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
    bin: Record<string, string>;
    exports: Record<string, { types: string; default: string }>;
    repository: { url: string };
    homepage: string;
    bugs: { url: string };
    engines: { node: string };
    sideEffects: boolean;
  };
  const bin = pkg.bin.waymark as string;

  if (!existsSync(join(ROOT, bin))) {
    // A clone installed with --ignore-scripts has no dist yet.
    execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: "ignore" });
  }

  it("packs the bin, the entry points and the README", () => {
    const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
      cwd: ROOT,
      encoding: "utf8",
    });
    const [packed] = JSON.parse(out) as Array<{ files: PackedFile[] }>;
    const files = new Set(packed?.files.map((f) => f.path));
    const entry = pkg.exports["."];
    for (const path of [bin, entry?.default, entry?.types, "README.md", "package.json"]) {
      const relative = String(path).replace(/^\.\//, "");
      assert.ok(files.has(relative), `${relative} is in the package`);
    }
    assert.ok(![...files].some((f) => f.startsWith("test/") || f.startsWith("src/")));
    assert.ok(files.has("LICENSE"), "the license is in the package");
    assert.deepEqual(
      [...files].filter((f) => f.endsWith(".map")),
      [],
      "no source maps that point at sources the package does not ship",
    );
  });

  it("says where it comes from, what it needs and that importing it has no side effects", () => {
    assert.match(readFileSync(join(ROOT, "LICENSE"), "utf8"), /^MIT License/);
    const repository = pkg.repository.url.replace(/^git\+/, "").replace(/\.git$/, "");
    assert.match(repository, /^https:\/\/github\.com\/[\w-]+\/[\w-]+$/);
    assert.equal(pkg.homepage, `${repository}#readme`);
    assert.equal(pkg.bugs.url, `${repository}/issues`);
    // require(esm), which CommonJS callers and tools rely on, is unflagged from these versions.
    assert.equal(pkg.engines.node, "^20.19.0 || >=22.12.0");
    assert.equal(pkg.sideEffects, false);
    // On the registry a relative link has nothing to point at: every link is absolute.
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] as string);
    assert.ok(links.length > 5);
    for (const link of links) {
      assert.ok(
        link.startsWith("https://") || link.startsWith("#"),
        `README link ${link} must be absolute (${repository}/blob/main/...)`,
      );
      if (link.startsWith("https://github.com/")) assert.ok(link.startsWith(repository), link);
    }
    assert.match(readme, /ESM only/);
  });

  it("importing the package does not load better-sqlite3 until a SQLite store is opened", () => {
    const script = `
      import { createRequire } from "node:module";
      const loaded = () => Object.keys(createRequire(import.meta.url).cache)
        .some((p) => p.includes("better-sqlite3"));
      const waymark = await import(${JSON.stringify(join(ROOT, pkg.exports["."]?.default ?? ""))});
      const before = loaded();
      const store = await waymark.openStore("sqlite::memory:");
      await store.close();
      console.log(JSON.stringify([before, loaded()]));`;
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
    });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), [false, true]);
  });

  it("`waymark --help` from the built bin exits 0 and lists every command", () => {
    assert.match(readFileSync(join(ROOT, bin), "utf8"), /^#!\/usr\/bin\/env node\n/);
    const result = spawnSync(process.execPath, [join(ROOT, bin), "--help"], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr);
    const expected = buildProgram("0.0.0").commands.map((c) => c.name());
    for (const command of expected) {
      assert.match(
        result.stdout,
        new RegExp(`^ {2}${command}\\b`, "m"),
        `${command} is listed; if not, dist is stale: run npm run build`,
      );
    }
  });
});
