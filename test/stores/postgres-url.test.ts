// A store URL parameter nobody reads is refused, naming the ones that are read: `?shema=x`
// once went unnoticed and the store wrote to the default schema.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { openStore, StoreError } from "../../src/index.js";
import { parsePostgresUrl } from "../../src/stores/postgres/postgres-options.js";
import { waymark } from "../cli/cli.js";

// Nothing listens here: the URL is refused before any connection is tried.
const BASE = "postgres://app@127.0.0.1:1/app";

describe("PostgreSQL store URL parameters", () => {
  it("an unknown one is refused by openStore and the CLI, with the known ones named", async () => {
    await assert.rejects(
      openStore(`${BASE}?shema=jobs`),
      (error: unknown) =>
        error instanceof StoreError &&
        error.code === "INVALID_STORE_URL" &&
        /the parameter "shema", which nothing reads \(did you mean schema\?\)/.test(
          error.message,
        ) &&
        /waymark reads schema and groupCommit; the pg driver reads host, .*sslmode/.test(
          error.message,
        ),
    );
    const out = await waymark(["status", "--store", `${BASE}?schema=jobs&applicaton_name=x`]);
    assert.equal(out.code, 3, out.stderr);
    assert.match(
      out.stderr,
      /"applicaton_name", which nothing reads \(did you mean application_name\?\)/,
    );
  });

  it("the driver's own and waymark's are accepted; waymark's are not passed on", () => {
    const parsed = parsePostgresUrl(
      `${BASE}?sslmode=disable&application_name=nightly&schema=jobs&groupCommit=false`,
    );
    assert.equal(parsed.schema, "jobs");
    assert.equal(parsed.groupCommit, false);
    assert.equal(parsed.connectionString, `${BASE}?sslmode=disable&application_name=nightly`);
  });
});
