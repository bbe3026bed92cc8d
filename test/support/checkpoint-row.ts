import type { StoredCheckpoint } from "../../src/core/store/records.js";

/**
 * A stored checkpoint for tests of what reads them (reports, backfill views): a partition
 * `p/x`, 10 of 100 done, no lease, no split; `overrides` sets what the test is about.
 */
export function storedCheckpoint(overrides: Partial<StoredCheckpoint> = {}): StoredCheckpoint {
  return {
    processor: "p",
    partition: "x",
    shard: "",
    processorVersion: 1,
    cursor: 10,
    completed: 10,
    total: 100,
    state: null,
    stateCodec: null,
    fingerprint: null,
    runId: "r1",
    leaseOwner: null,
    leaseExpiresAt: null,
    fence: 1,
    attempt: 1,
    createdAt: 0,
    updatedAt: 0,
    range: { from: null, to: null },
    layout: "",
    parent: null,
    splitRequest: null,
    splitNote: null,
    ...overrides,
  };
}
