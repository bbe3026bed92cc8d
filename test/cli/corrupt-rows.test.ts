// A store holding one corrupt and one good checkpoint, through the real CLI: the reports list
// the good row and flag the corrupt one (exit 65, field and value on stderr, never NaN); gc
// removes what is stale and leaves the corrupt row; reset deletes the corrupt row unread.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type CorruptStore, corruptStore } from "../reports/corrupt-store.js";
import { type CliResult, waymark } from "./cli.js";

function noNaN(out: CliResult): void {
  assert.doesNotMatch(`${out.stdout}\n${out.stderr}`, /NaN/, "no NaN anywhere");
}

function flagsCorrupt(out: CliResult): void {
  assert.equal(out.code, 65, `exit 65 for a corrupt row: ${out.stderr}`);
  assert.match(out.stderr, /1 corrupt checkpoint in the store/);
  assert.match(out.stderr, /ids\/bad is corrupt: completed is "abc" \(string\)/);
  assert.match(out.stderr, /waymark reset ids bad/);
  noNaN(out);
}

describe("the CLI on a store with one corrupt and one good checkpoint", { timeout: 60_000 }, () => {
  let fixture: CorruptStore;
  let store: string;
  before(async () => {
    fixture = await corruptStore("completed = 'abc'");
    store = `sqlite:${fixture.path}`;
  });
  after(() => fixture?.cleanup());

  it("status lists the good row, shows the corrupt one as CORRUPT, exits 65", async () => {
    const table = await waymark(["status", "--store", store]);
    flagsCorrupt(table);
    assert.match(table.stdout, /ids\s+good\s+10\/20\s+50\.0%/);
    assert.match(table.stdout, /ids\s+bad\s+CORRUPT/);
    const json = await waymark(["status", "--store", store, "--json"]);
    flagsCorrupt(json);
    const rows = (
      JSON.parse(json.stdout) as { checkpoints: Array<{ partition: string; completed: number }> }
    ).checkpoints;
    assert.deepEqual(
      rows.map((r) => [r.partition, r.completed]),
      [["good", 10]],
    );
  });

  it("runs and stale list the rest and flag the corrupt row", async () => {
    const runs = await waymark(["runs", "--store", store]);
    flagsCorrupt(runs);
    assert.match(runs.stdout, /ids\s+good/);
    assert.match(runs.stdout, /ids\s+bad/);
    const stale = await waymark(["stale", "--store", store]);
    flagsCorrupt(stale);
    assert.match(stale.stdout, /ids\s+good\s+10\/20/);
    assert.match(stale.stdout, /CORRUPT: PROCESSOR[\s\S]*ids\s+bad\s+completed\s+"abc" \(string\)/);
  });

  it("gc removes the stale good row and leaves the corrupt one for a reset", async () => {
    const dry = await waymark(["gc", "--store", store, "--dry-run"]);
    flagsCorrupt(dry);
    assert.deepEqual(fixture.keys(), ["ids/bad", "ids/good"], "a dry run changes nothing");
    const gc = await waymark(["gc", "--store", store]);
    flagsCorrupt(gc);
    assert.match(gc.stdout, /removed checkpoint ids\/good \(10\/20\)/);
    assert.deepEqual(fixture.keys(), ["ids/bad"]);
  });

  it("reset deletes the corrupt row without reading it; then status is clean", async () => {
    const reset = await waymark(["reset", "ids", "bad", "--yes", "--store", store]);
    assert.equal(reset.code, 0, reset.stderr);
    assert.match(reset.stdout, /Reset ids\/bad: the next run starts over/);
    assert.deepEqual(fixture.keys(), []);
    const status = await waymark(["status", "--store", store]);
    assert.equal(status.code, 0, status.stderr);
    noNaN(status);
  });
});
