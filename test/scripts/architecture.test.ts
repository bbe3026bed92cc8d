import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { checkArchitecture } from "../../scripts/check-architecture.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

describe("the architecture check of npm run lint", { timeout: 60_000 }, () => {
  it("passes on the code as it is", () => {
    assert.deepEqual(checkArchitecture(root), []);
  });

  it("fails on core code that imports a store adapter or writes to a raw store", () => {
    const violations = checkArchitecture(root, {
      "src/core/planted.ts": [
        'import { MemoryStore } from "../stores/memory/memory-store.js";',
        'import type { LeaseHandle, RunStore } from "./store/run-store.js";',
        "export async function planted(store: RunStore, lease: LeaseHandle) {",
        "  await store.release(lease, Date.now());",
        "  await new MemoryStore().recordRun({} as never);",
        "  const scope = store.openBatch(lease);",
        "  await scope.commit({} as never);",
        "}",
      ].join("\n"),
      "src/reports/planted.ts": 'export { run } from "../index.js";',
    });
    const found = violations.map((v) => `${v.file}:${v.line} ${v.rule}`).sort();
    assert.deepEqual(found, [
      "src/core/planted.ts:1 core-imports-stores",
      "src/core/planted.ts:4 raw-store-write",
      "src/core/planted.ts:5 raw-store-write",
      "src/core/planted.ts:7 raw-store-write",
      "src/reports/planted.ts:1 imports-index",
    ]);
  });
});
