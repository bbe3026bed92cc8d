import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { ArtifactRef, ArtifactStore } from "../../src/core/store/artifact-store.js";
import type { CheckpointWrite, LeaseHandle } from "../../src/core/store/checkpoint-store.js";
import { type OpenedStore, STORE_FACTORIES } from "./stores.js";

const key = { processor: "model", partition: "default", shard: "" };
const T0 = 1_700_000_000_000;

/** The optional artifact capability, for every store that has it. */
for (const factory of STORE_FACTORIES) {
  describe(`artifact store contract: ${factory.name}`, () => {
    let opened: OpenedStore;
    let artifacts: ArtifactStore;
    let lease: LeaseHandle;
    beforeEach(async () => {
      opened = await factory.open();
      assert.ok(opened.store.artifacts, `${factory.name} keeps artifacts`);
      artifacts = opened.store.artifacts;
      const acquired = await opened.store.acquire({
        ...key,
        owner: "a",
        runId: "run-a",
        leaseTtlMs: 30_000,
        now: T0,
      });
      assert.ok(acquired.acquired);
      lease = acquired.lease;
    });
    afterEach(async () => {
      await opened.cleanup();
    });

    async function blob(name: string, bytes: string): Promise<ArtifactRef> {
      const blobId = await artifacts.createBlob(key, T0);
      await artifacts.writeChunk(blobId, 0, Buffer.from(bytes));
      const sealed = { hash: `hash-of-${bytes}`, size: bytes.length, chunks: 1 };
      await artifacts.sealBlob(blobId, sealed);
      return { name, blobId, ...sealed };
    }

    const commit = (refs: ArtifactRef[], cursor: number) => {
      const write: CheckpointWrite = {
        kind: "batch",
        processorVersion: 1,
        cursor,
        completed: cursor,
        total: null,
        state: null,
        stateCodec: "json",
        fingerprint: "f",
        artifacts: refs,
        leaseTtlMs: 30_000,
        now: T0 + cursor,
      };
      const scope = opened.store.openBatch(lease);
      return scope.commit(write);
    };

    it("switches references in the commit and collects what they replaced", async () => {
      const first = await blob("weights", "one");
      const orphan = await blob("weights", "never committed");
      await commit([first], 1);
      assert.deepEqual(await artifacts.listArtifacts(key), [first]);
      assert.equal(await artifacts.collectGarbage(key), 1, "the uncommitted blob goes");
      const second = await blob("weights", "two");
      await commit([second], 2);
      assert.deepEqual(await artifacts.listArtifacts(key), [second]);
      assert.equal(await artifacts.collectGarbage(key), 1, "the replaced version goes");
      assert.equal(await artifacts.readChunk(first.blobId, 0), null);
      assert.equal(await artifacts.readChunk(orphan.blobId, 0), null);
      assert.equal(
        Buffer.from((await artifacts.readChunk(second.blobId, 0)) ?? []).toString(),
        "two",
      );
    });

    it("refuses a commit naming a missing blob, and commits nothing of it", async () => {
      const gone = await blob("weights", "gone");
      await artifacts.deleteBlob(gone.blobId);
      await assert.rejects(commit([gone], 1));
      assert.equal((await opened.store.getCheckpoint(key))?.cursor, null);
      assert.deepEqual(await artifacts.listArtifacts(key), []);
    });

    it("never deletes a referenced blob one by one, and clears everything with the checkpoint", async () => {
      const kept = await blob("weights", "kept");
      await commit([kept], 1);
      await artifacts.deleteBlob(kept.blobId);
      assert.deepEqual(await artifacts.listArtifacts(key), [kept]);
      assert.ok(await artifacts.readChunk(kept.blobId, 0));
      await opened.store.release(lease, T0 + 2);
      assert.equal(await opened.store.deleteCheckpoint(key), true);
      assert.deepEqual(await artifacts.listArtifacts(key), []);
      assert.equal(await artifacts.readChunk(kept.blobId, 0), null);
    });
  });
}
