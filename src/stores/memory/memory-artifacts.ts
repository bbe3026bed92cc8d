import { randomUUID } from "node:crypto";
import { describeKey, keyId } from "../../core/checkpoint-key.js";
import { StoreError } from "../../core/errors.js";
import type { ArtifactRef, ArtifactStore } from "../../core/store/artifact-store.js";
import type { CheckpointKey } from "../../core/types.js";

interface Blob {
  readonly owner: string;
  readonly chunks: Uint8Array[];
  sealed: { hash: string; size: number; chunks: number } | null;
}

/**
 * Artifacts of a `MemoryStore`, kept in this process. `switchRefs` and `clearSync` run in
 * the store's synchronous commit and completion steps.
 */
export class MemoryArtifacts implements ArtifactStore {
  readonly #blobs = new Map<string, Blob>();
  readonly #refs = new Map<string, Map<string, ArtifactRef>>();

  async createBlob(key: CheckpointKey): Promise<string> {
    const blobId = randomUUID();
    this.#blobs.set(blobId, { owner: keyId(key), chunks: [], sealed: null });
    return blobId;
  }

  async writeChunk(blobId: string, seq: number, data: Uint8Array): Promise<void> {
    const blob = this.#blobs.get(blobId);
    // A blob collected while a fenced runner still writes: its chunks go nowhere.
    if (blob) blob.chunks[seq] = Uint8Array.from(data);
  }

  async sealBlob(
    blobId: string,
    sealed: { hash: string; size: number; chunks: number },
  ): Promise<void> {
    const blob = this.#blobs.get(blobId);
    if (blob) blob.sealed = { ...sealed };
  }

  async readChunk(blobId: string, seq: number): Promise<Uint8Array | null> {
    return this.#blobs.get(blobId)?.chunks[seq] ?? null;
  }

  async listArtifacts(key: CheckpointKey): Promise<ArtifactRef[]> {
    const refs = this.#refs.get(keyId(key));
    return refs ? [...refs.values()].sort((a, b) => (a.name < b.name ? -1 : 1)) : [];
  }

  async deleteBlob(blobId: string): Promise<void> {
    for (const refs of this.#refs.values()) {
      for (const ref of refs.values()) if (ref.blobId === blobId) return;
    }
    this.#blobs.delete(blobId);
  }

  async collectGarbage(key: CheckpointKey): Promise<number> {
    const owner = keyId(key);
    const referenced = new Set([...(this.#refs.get(owner)?.values() ?? [])].map((r) => r.blobId));
    let removed = 0;
    for (const [blobId, blob] of this.#blobs) {
      if (blob.owner === owner && !referenced.has(blobId)) {
        this.#blobs.delete(blobId);
        removed++;
      }
    }
    return removed;
  }

  async clearArtifacts(key: CheckpointKey): Promise<void> {
    this.clearSync(key);
  }

  /** Points each name at its new blob, as part of the store's commit step. */
  switchRefs(key: CheckpointKey, refs: readonly ArtifactRef[]): void {
    const owner = keyId(key);
    for (const ref of refs) {
      const blob = this.#blobs.get(ref.blobId);
      if (blob?.owner !== owner || blob.sealed?.hash !== ref.hash) {
        throw new StoreError(
          "CORRUPT_CHECKPOINT",
          `The artifact "${ref.name}" of ${describeKey(key)} lost its blob before ` +
            "the commit; nothing of this batch was committed. Run the partition again.",
        );
      }
    }
    const current = this.#refs.get(owner) ?? new Map<string, ArtifactRef>();
    for (const ref of refs) current.set(ref.name, { ...ref });
    this.#refs.set(owner, current);
  }

  /** Deletes every artifact and blob of `key`. */
  clearSync(key: CheckpointKey): void {
    const owner = keyId(key);
    this.#refs.delete(owner);
    for (const [blobId, blob] of this.#blobs) if (blob.owner === owner) this.#blobs.delete(blobId);
  }
}
