import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { CLI } from "./cli.js";

const waymark = (...args: string[]) =>
  spawnSync(process.execPath, [...CLI, ...args], { encoding: "utf8" });

describe("waymark demo train", () => {
  it("kills the training child, resumes it, and reports a bit-identical model", () => {
    const result = waymark("demo", "train", "--kill-at", "25:after-put", "--json");
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as {
      killedBy: string;
      identical: boolean;
      resumed: { resumedFrom: number; weightsHex: string };
    };
    assert.equal(report.killedBy, "SIGKILL");
    assert.equal(report.resumed.resumedFrom, 2400);
    assert.equal(report.identical, true);
  });

  it("rejects a malformed kill point with a usage error", () => {
    const result = waymark("demo", "train", "--kill-at", "soon");
    assert.equal(result.status, 2);
    assert.match(result.stderr, /Invalid --kill-at "soon": use BATCH:PHASE/);
  });

  it("rejects a kill point the training never reaches, before training anything", () => {
    for (const point of ["99:after-put", "41:before-put", "0:during-put"]) {
      const result = waymark("demo", "train", "--kill-at", point);
      assert.equal(result.status, 2, point);
      assert.match(result.stderr, new RegExp(`Invalid --kill-at "${point}": .*from 1 to 40`));
      assert.equal(result.stdout, "", "nothing was trained");
    }
  });
});
