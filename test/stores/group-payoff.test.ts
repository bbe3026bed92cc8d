import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type GroupMode,
  GroupPayoff,
  PAYOFF_WINDOW,
  PROBE_WINDOW,
} from "../../src/stores/group-payoff.js";

/** A payoff on a clock the test moves, and a helper settling commits at a given pace. */
function payoffOnClock() {
  let now = 0;
  const payoff = new GroupPayoff(() => now);
  /**
   * Settles a whole window in the current mode, 8 runs committing, each commit `ms[mode]`
   * after the previous one. Resolves to the mode measured.
   */
  const window = (ms: Record<GroupMode, number>): GroupMode => {
    const mode = payoff.mode;
    const size =
      payoff.rate[mode === "group" ? "alone" : "group"] === null && mode === "alone"
        ? PROBE_WINDOW
        : PAYOFF_WINDOW;
    for (let i = 0; i < size && payoff.mode === mode; i++) {
      now += ms[mode];
      payoff.record(mode, 8);
    }
    return mode;
  };
  return { payoff, window };
}

describe("GroupPayoff", () => {
  it("groups first, tries commits alone next, and keeps the mode whose runs commit more often", () => {
    const { payoff, window } = payoffOnClock();
    const aloneFaster = { group: 0.2, alone: 0.1 };
    assert.equal(window(aloneFaster), "group");
    assert.equal(window(aloneFaster), "alone", "the second window tries commits alone");
    assert.equal(payoff.mode, "alone", "runs committed more often alone");
    assert.ok((payoff.rate.alone ?? 0) > (payoff.rate.group ?? 0));
  });

  it("keeps grouping where groups commit more often (an fsync each, alone)", () => {
    const { payoff, window } = payoffOnClock();
    const groupsFaster = { group: 0.02, alone: 0.11 };
    window(groupsFaster);
    window(groupsFaster);
    assert.equal(payoff.mode, "group");
    let alone = 0;
    for (let i = 0; i < 40; i++) if (window(groupsFaster) === "alone") alone++;
    assert.ok(alone <= 2, `tried alone in ${alone} of 40 windows: only to look again`);
  });

  it("tries the other mode again after a while, and follows a load that changed", () => {
    const { payoff, window } = payoffOnClock();
    window({ group: 0.2, alone: 0.1 });
    window({ group: 0.2, alone: 0.1 });
    assert.equal(payoff.mode, "alone");
    let windows = 0;
    while (payoff.mode === "alone" && windows < 60) {
      window({ group: 0.02, alone: 0.3 });
      windows++;
    }
    assert.equal(payoff.mode, "group", "grouping now pays, and the store found out");
    assert.ok(windows <= 34, `found out after ${windows} windows`);
  });

  it("ignores a commit of the previous mode settling late", () => {
    const { payoff } = payoffOnClock();
    for (let i = 0; i < PAYOFF_WINDOW * 3; i++) payoff.record("alone", 8);
    assert.equal(payoff.mode, "group");
    assert.deepEqual(payoff.rate, { group: null, alone: null });
  });
});
