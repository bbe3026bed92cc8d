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
