import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { partitionsOf } from "../../src/cli/partitions.js";
import { CliError } from "../../src/cli/shared.js";
import { defineProcessor, InvalidOptionError, MemoryStore, run } from "../../src/index.js";
import { waymark } from "./cli.js";

describe("--partition, --partitions, --from/--to/--step", () => {
  it("lists the partitions each form names", () => {
    assert.deepEqual(partitionsOf({ partition: "eu" }), ["eu"]);
    assert.deepEqual(partitionsOf({ partitions: "eu,us,,eu,apac" }), ["eu", "us", "apac"]);
    assert.deepEqual(partitionsOf({ from: "2024-02-27", to: "2024-03-01" }), [
      "2024-02-27",
      "2024-02-28",
      "2024-02-29",
      "2024-03-01",
    ]);
    assert.deepEqual(partitionsOf({ from: "2024-01-01", to: "2024-01-10", step: "3d" }), [
      "2024-01-01",
      "2024-01-04",
      "2024-01-07",
      "2024-01-10",
    ]);
    assert.deepEqual(partitionsOf({ from: "2024-01-01", to: "2024-01-31", step: "1w" }).length, 5);
  });

  it("refuses what names no partition or several forms, with exit code 2", () => {
    const cases: Array<[Parameters<typeof partitionsOf>[0], RegExp]> = [
      [{}, /Say which partitions/],
      [{ partitions: ",," }, /--partitions is empty/],
      [{ partition: "a", partitions: "b" }, /not several/],
      [{ to: "2024-01-01" }, /--to needs --from too/],
      [{ partition: "a", step: "1d" }, /--step goes with --from\/--to/],
      [{ from: "2024-01-01", to: "2024-01-05", step: "12h" }, /not a whole number of days/],
    ];
    for (const [flags, message] of cases) {
      assert.throws(
        () => partitionsOf(flags),
        (error: unknown) =>
          error instanceof CliError && error.exitCode === 2 && message.test(error.message),
        JSON.stringify(flags),
      );
    }
  });

  it("refuses a partition with surrounding spaces the same way through every flag", () => {
    for (const flags of [
      { partition: " lead" },
      { partitions: " lead" },
      { partitions: "a, lead" },
    ]) {
      assert.throws(
        () => partitionsOf(flags),
        (error: unknown) =>
          error instanceof CliError &&
          error.exitCode === 2 &&
          /^--partitions? " lead": it has surrounding spaces; use 1-256 characters/.test(
            error.message,
          ),
        JSON.stringify(flags),
      );
    }
  });
});

describe("a partition with surrounding spaces", () => {
  it("is refused by waymark run's --partition and --partitions alike, and by run()", async () => {
    const module = fileURLToPath(new URL("../fixtures/backfill-processors.ts", import.meta.url));
    for (const flag of ["--partition", "--partitions"]) {
      const out = await waymark(["run", module, "visits", flag, " lead", "--store", "memory:"]);
      assert.equal(out.code, 2, `${flag}: ${out.stderr}`);
      assert.match(out.stderr, new RegExp(`${flag} " lead": it has surrounding spaces`));
    }
    const processor = defineProcessor({
      name: "p",
      entities: () => [1],
      id: (n: number) => n,
      processBatch() {},
    });
    await assert.rejects(
      run(processor, { store: new MemoryStore(), partition: "lead " }),
      (error: unknown) =>
        error instanceof InvalidOptionError &&
        error.option === "partition" &&
        /it has surrounding spaces/.test(error.message),
    );
  });
});
