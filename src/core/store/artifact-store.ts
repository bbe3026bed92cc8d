import type { CheckpointKey } from "../types.js";

/**
 * What makes a stored blob an artifact of a checkpoint: its name, the blob holding its
 * bytes, and the sha-256 of those bytes (uncompressed) that every read is checked against.
 */
export interface ArtifactRef {
  readonly name: string;
  readonly blobId: string;
  /** sha-256 of the uncompressed bytes, hex. */
  readonly hash: string;
  /** Uncompressed size in bytes. */
  readonly size: number;
  /** How many chunks the blob was written in. */
  readonly chunks: number;
}

/**
 * The optional artifact capability of a store: blobs kept beside a checkpoint.
 *
 * Chunks are written while `processBatch` runs, each in its own short transaction, into a
 * blob nothing references yet; only the reference (name -> blob) is switched, in the batch's
 * commit (`CheckpointWrite.artifacts`). So the commit stays atomic without holding a write
 * lock across the user's awaits, and a crash mid-write leaves the previous version current.
 * Unreferenced blobs are garbage and are removed by {@link collectGarbage}.
 */
export interface ArtifactStore {
  /** Starts an unreferenced blob owned by `key` and returns its id. */
  createBlob(key: CheckpointKey, now: number): Promise<string>;
  /** Stores chunk `seq` (from 0) of a blob, compressed bytes as given. */
  writeChunk(blobId: string, seq: number, data: Uint8Array): Promise<void>;
  /** Marks a blob complete; only a sealed blob can be referenced by a commit. */
  sealBlob(blobId: string, sealed: { hash: string; size: number; chunks: number }): Promise<void>;
  /** Reads chunk `seq` of a blob, or null when it is missing. */
  readChunk(blobId: string, seq: number): Promise<Uint8Array | null>;
  /** The artifacts the checkpoint of `key` currently references. */
  listArtifacts(key: CheckpointKey): Promise<ArtifactRef[]>;
  /** Deletes one unreferenced blob (a failed put, a failed batch). A referenced one stays. */
  deleteBlob(blobId: string): Promise<void>;
  /** Deletes the blobs of `key` that no artifact references; returns how many. */
  collectGarbage(key: CheckpointKey): Promise<number>;
  /** Deletes every artifact and blob of `key` (a fresh start). */
  clearArtifacts(key: CheckpointKey): Promise<void>;
}
