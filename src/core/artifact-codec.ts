import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { constants, deflateRaw, inflateRaw } from "node:zlib";
import { describeKey, resetCommand } from "./checkpoint-key.js";
import { StoreError, WaymarkError } from "./errors.js";
import type { ArtifactRef, ArtifactStore } from "./store/artifact-store.js";
import type { CheckpointKey } from "./types.js";

/** Bytes per stored chunk: big enough that per-row overhead vanishes, small enough to stream. */
export const CHUNK_BYTES = 1024 * 1024;

const compress = promisify(deflateRaw);
const decompress = promisify(inflateRaw);
// Level 1: artifacts are mostly numbers (weights) that compress little at any level, and a
// commit should not wait on the compressor.
const LEVEL = { level: constants.Z_BEST_SPEED };

/** What `ctx.artifacts.put` accepts. */
export type ArtifactSource = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** Where a blob lives and whose it is, for writing and for error messages. */
export interface BlobTarget extends CheckpointKey {
  readonly store: ArtifactStore;
  readonly name: string;
  readonly maxBytes: number;
  readonly now: number;
}

/**
 * Writes `source` as a new, unreferenced blob: 1 MiB chunks, each compressed and stored in
 * its own short transaction, hashed on the way. Only one chunk is in memory at a time.
 * Over `maxBytes` it stops, removes what it wrote and throws `ARTIFACT_TOO_LARGE`.
 */
export async function writeBlob(target: BlobTarget, source: ArtifactSource): Promise<ArtifactRef> {
  const { store } = target;
  const key = { processor: target.processor, partition: target.partition, shard: target.shard };
  const blobId = await store.createBlob(key, target.now);
  const hash = createHash("sha256");
  let size = 0;
  let seq = 0;
  try {
    for await (const chunk of rechunk(source, CHUNK_BYTES)) {
      size += chunk.length;
      if (size > target.maxBytes) {
        throw new WaymarkError(
          "ARTIFACT_TOO_LARGE",
          `The artifact "${target.name}" of ${describeKey(target)} is over ` +
            `maxArtifactBytes (${target.maxBytes} bytes, uncompressed). Raise maxArtifactBytes ` +
            "on the processor or store less; the last checkpoint is kept.",
        );
      }
      hash.update(chunk);
      await store.writeChunk(blobId, seq++, await compress(chunk, LEVEL));
    }
    const sealed = { hash: hash.digest("hex"), size, chunks: seq };
    await store.sealBlob(blobId, sealed);
    return { name: target.name, blobId, ...sealed };
  } catch (error) {
    // Only this blob: another runner of the same key may be writing its own right now.
    await store.deleteBlob(blobId).catch(() => {});
    throw error;
  }
}

/**
 * Reads a blob back chunk by chunk, checking the sha-256 as it goes; the last chunk is
 * released only after the whole blob matched, so a reader never ends on unverified bytes.
 */
export async function* readBlob(
  store: ArtifactStore,
  ref: ArtifactRef,
  where: CheckpointKey,
): AsyncGenerator<Buffer> {
  const hash = createHash("sha256");
  let size = 0;
  let held: Buffer | null = null;
  for (let seq = 0; seq < ref.chunks; seq++) {
    const stored = await store.readChunk(ref.blobId, seq);
    if (stored === null) throw corrupt(ref, where, `chunk ${seq} is missing`);
    let chunk: Buffer;
    try {
      chunk = await decompress(stored, { maxOutputLength: CHUNK_BYTES });
    } catch (error) {
      throw corrupt(ref, where, `chunk ${seq} does not decompress (${(error as Error).message})`);
    }
    hash.update(chunk);
    size += chunk.length;
    if (held) yield held;
    held = chunk;
  }
  const actual = hash.digest("hex");
  if (actual !== ref.hash || size !== ref.size) {
    throw corrupt(
      ref,
      where,
      `its bytes hash to ${actual.slice(0, 12)}…, not ${ref.hash.slice(0, 12)}…`,
    );
  }
  if (held) yield held;
}

/** Reads a whole blob only to check it; used before a run resumes from its checkpoint. */
export async function verifyBlob(
  store: ArtifactStore,
  ref: ArtifactRef,
  where: CheckpointKey,
): Promise<void> {
  for await (const _ of readBlob(store, ref, where)) {
    // Consumed for the hash check only.
  }
}

function corrupt(ref: ArtifactRef, where: CheckpointKey, detail: string): StoreError {
  return new StoreError(
    "CORRUPT_CHECKPOINT",
    `The artifact "${ref.name}" of ${describeKey(where)} is corrupt: ${detail}. ` +
      `Its checkpoint cannot be resumed; run \`${resetCommand(where)}\` to start the ` +
      "partition over.",
  );
}

/** Regroups any sequence of byte pieces into `size`-byte chunks (the last may be shorter). */
async function* rechunk(source: ArtifactSource, size: number): AsyncGenerator<Uint8Array> {
  const pieces = source instanceof Uint8Array ? [source] : source;
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  for await (const raw of pieces) {
    let piece = toBytes(raw);
    while (piece.length > 0) {
      const take = Math.min(size - pendingBytes, piece.length);
      pending.push(piece.subarray(0, take));
      pendingBytes += take;
      piece = piece.subarray(take);
      if (pendingBytes === size) {
        yield pending.length === 1 ? (pending[0] as Uint8Array) : Buffer.concat(pending);
        pending = [];
        pendingBytes = 0;
      }
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending);
}

function toBytes(piece: unknown): Uint8Array {
  if (piece instanceof Uint8Array) return piece;
  if (typeof piece === "string") return Buffer.from(piece, "utf8");
  throw new TypeError(
    `ctx.artifacts.put received a ${typeof piece} piece; give it bytes: a Uint8Array/Buffer, ` +
      "a Readable of buffers, or an async iterable of Uint8Array.",
  );
}
