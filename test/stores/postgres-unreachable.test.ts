// A PostgresStore constructed (not opened through openStore) for a server nothing listens on:
// the run's first write finds no connection. A refused connection landed nothing, so the run
// fails with STORE_UNAVAILABLE saying nothing was written, as openStore would have, not with
// OUTCOME_UNKNOWN after asking six times whether the write "may have landed".
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { defineProcessor, PostgresStore, run, StoreError } from "../../src/index.js";
import { captureLogger } from "../support/logger.js";
import { noBackoff } from "../support/time.js";

/** A local port that was just free: nothing listens on it, so a connection is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const counted = defineProcessor<number>({
  name: "unreached",
  entities: () => [1, 2, 3],
  id: (n) => n,
  processBatch() {},
});

describe("a PostgresStore for a server nothing listens on", () => {
  it("fails the run with STORE_UNAVAILABLE, saying nothing was written", async () => {
    const port = await closedPort();
    const store = new PostgresStore({
      connectionString: `postgres://waymark@127.0.0.1:${port}/nowhere`,
    });
    const { logger, lines } = captureLogger();
    try {
      const result = await run(counted, { store, logger, sleep: noBackoff });
      assert.equal(result.status, "failed");
      const error = result.error as StoreError;
      assert.ok(error instanceof StoreError, String(error));
      assert.equal(error.code, "STORE_UNAVAILABLE");
      assert.equal(error.nothingLanded, true);
      assert.match(error.message, /ECONNREFUSED/);
      assert.match(error.message, /Nothing was written: the connection was never made\./);
      assert.doesNotMatch(lines.join("\n"), /may have landed|OUTCOME_UNKNOWN/);
    } finally {
      await store.close();
    }
  });
});
