import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defineProcessor, run, StoreError } from "../../src/index.js";
import { STORE_FACTORIES } from "./stores.js";

const processor = defineProcessor<number>({
  name: "late",
  entities: () => [1, 2, 3],
  id: (n) => n,
  processBatch() {},
});

for (const factory of STORE_FACTORIES) {
  describe(`${factory.name}: a closed store`, () => {
    it("fails a run with STORE_CLOSED, naming the store", async () => {
      const opened = await factory.open();
      await opened.store.close();
      const result = await run(processor, { store: opened.store, logger: false });
      assert.equal(result.status, "failed");
      assert.ok(result.error instanceof StoreError, String(result.error));
      assert.equal(result.error.code, "STORE_CLOSED");
      assert.match(result.error.message, /is closed\. Open it again/);
      assert.ok(result.error.location, "the error names the store");
      await opened.cleanup();
    });
  });
}
