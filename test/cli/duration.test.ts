import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseDuration } from "../../src/cli/duration.js";
import { InvalidOptionError } from "../../src/core/errors.js";

describe("parseDuration", () => {
  it("reads days, hours, minutes, seconds and bare milliseconds", () => {
    assert.equal(parseDuration("7d", "--since"), 7 * 86_400_000);
    assert.equal(parseDuration("24h", "--since"), 86_400_000);
    assert.equal(parseDuration("90m", "--since"), 5_400_000);
    assert.equal(parseDuration("30s", "--since"), 30_000);
    assert.equal(parseDuration("1500", "--since"), 1500);
  });

  it("rejects zero, negative and unreadable durations, naming the option and the fix", () => {
    for (const bad of ["0", "-1h", "soon", "", "7 fortnights"]) {
      assert.throws(
        () => parseDuration(bad, "--older-than"),
        (e: unknown) =>
          e instanceof InvalidOptionError &&
          e.option === "--older-than" &&
          e.message.includes(JSON.stringify(bad)) &&
          e.message.includes("7d, 24h, 90m"),
        bad,
      );
    }
  });
});
