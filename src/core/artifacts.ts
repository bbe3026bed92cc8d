import { Readable } from "node:stream";
import { type ArtifactSource, readBlob, verifyBlob, writeBlob } from "./artifact-codec.js";
import { InvalidOptionError, StoreError } from "./errors.js";
import type { ArtifactRef, ArtifactStore } from "./store/artifact-store.js";
import type { RunStore } from "./store/checkpoint-store.js";
import { unstorableIn } from "./stored-text.js";
import type { CheckpointKey, Logger } from "./types.js";

/** What `put` reports about a stored artifact. */
export interface ArtifactInfo {
  readonly name: string;
  /** sha-256 of the bytes, hex. */
  readonly hash: string;
  /** Size in bytes, uncompressed. */
  readonly size: number;
}

/**
 * `ctx.artifacts`: named blobs kept beside the checkpoint, for state too large for JSON
 * (model weights, indexes). A `put` becomes current only when the batch commits, together
 * with its cursor; a failed or killed batch leaves the previous version in place.
 *
 * @example
 * const weights = await ctx.artifacts.getBuffer("weights");
 * await ctx.artifacts.put("weights", Buffer.from(next.buffer));
 */
export interface Artifacts {
  /**
   * Stores `data` (bytes, a Readable of buffers, or an async iterable of Uint8Array) under
   * `name`, streamed in compressed chunks. Visible to `get` in this batch at once, and to
   * later batches and runs once this batch commits. Throws `ARTIFACT_TOO_LARGE` over
   * `maxArtifactBytes`.
   */
  put(name: string, data: ArtifactSource | Readable): Promise<ArtifactInfo>;
  /** Streams the current version of `name`, checked against its hash; null when there is none. */
  get(name: string): Promise<Readable | null>;
  /** The current version of `name` as one Buffer (for small artifacts); null when there is none. */
  getBuffer(name: string): Promise<Buffer | null>;
}

/**
 * A run's view of its checkpoint's artifacts: what is committed, verified before a resume,
 * cleared on a fresh start, and what each batch stages for its commit.
 */
export class RunArtifacts {
  readonly #store: RunStore;
  readonly #key: CheckpointKey;
  readonly #maxBytes: number;
  readonly #now: () => number;
  #committed = new Map<string, ArtifactRef>();

  constructor(store: RunStore, key: CheckpointKey, maxBytes: number, now: () => number) {
    this.#store = store;
    this.#key = key;
    this.#maxBytes = maxBytes;
    this.#now = now;
  }

  /**
   * Before a resume: loads the committed artifacts and reads each one through, so that a
   * corrupt blob refuses the resume before any batch runs. Leftovers of a killed run go.
   */
  async openForResume(): Promise<void> {
    const store = this.#store.artifacts;
    if (!store) return;
    await store.collectGarbage(this.#key);
    const refs = await store.listArtifacts(this.#key);
    for (const ref of refs) await verifyBlob(store, ref, this.#key);
    this.#committed = new Map(refs.map((r) => [r.name, r]));
  }

  /** Before a fresh start: the old checkpoint's artifacts must not leak into the new run. */
  async openFresh(): Promise<void> {
    await this.#store.artifacts?.clearArtifacts(this.#key);
    this.#committed.clear();
  }

  /** A new `ctx.artifacts` for one batch. */
  forBatch(): BatchArtifacts {
    return new BatchArtifacts(this.#store, this.#key, this.#committed, this.#maxBytes, this.#now);
  }

  /** After the batch's commit: its puts are current, and the versions they replaced go. */
  async committed(batch: BatchArtifacts, logger: Logger): Promise<void> {
    const refs = batch.staged();
    if (refs.length === 0) return;
    for (const ref of refs) this.#committed.set(ref.name, ref);
    await this.#store.artifacts?.collectGarbage(this.#key).catch((error: Error) => {
      logger.warn(`Could not remove replaced artifacts: ${error.message}; the next run will.`);
    });
  }
}

/** The `ctx.artifacts` of one batch. */
export class BatchArtifacts implements Artifacts {
  readonly #store: RunStore;
  readonly #key: CheckpointKey;
  readonly #committed: ReadonlyMap<string, ArtifactRef>;
  readonly #maxBytes: number;
  readonly #now: () => number;
  readonly #staged = new Map<string, ArtifactRef>();

  constructor(
    store: RunStore,
    key: CheckpointKey,
    committed: ReadonlyMap<string, ArtifactRef>,
    maxBytes: number,
    now: () => number,
  ) {
    this.#store = store;
    this.#key = key;
    this.#committed = committed;
    this.#maxBytes = maxBytes;
    this.#now = now;
  }

  async put(name: string, data: ArtifactSource | Readable): Promise<ArtifactInfo> {
    checkName(name);
    const ref = await writeBlob(
      {
        store: this.#capability(),
        ...this.#key,
        name,
        maxBytes: this.#maxBytes,
        now: this.#now(),
      },
      data as ArtifactSource,
    );
    const replaced = this.#staged.get(name);
    this.#staged.set(name, ref);
    // A second put of one name in a batch: the first was never committed, so it can go now.
    if (replaced) await this.#store.artifacts?.deleteBlob(replaced.blobId);
    return { name, hash: ref.hash, size: ref.size };
  }

  async get(name: string): Promise<Readable | null> {
    checkName(name);
    const store = this.#capability();
    const ref = this.#staged.get(name) ?? this.#committed.get(name);
    return ref ? Readable.from(readBlob(store, ref, this.#key), { objectMode: false }) : null;
  }

  async getBuffer(name: string): Promise<Buffer | null> {
    checkName(name);
    const store = this.#capability();
    const ref = this.#staged.get(name) ?? this.#committed.get(name);
    if (!ref) return null;
    // One buffer of the final size, filled chunk by chunk: never two copies of the bytes.
    const bytes = Buffer.allocUnsafe(ref.size);
    let offset = 0;
    for await (const chunk of readBlob(store, ref, this.#key)) {
      offset += chunk.copy(bytes, offset);
    }
    return bytes;
  }

  /** The references this batch's commit switches. */
  staged(): ArtifactRef[] {
    return [...this.#staged.values()];
  }

  /**
   * The batch failed: its blobs are garbage now. Only its own are deleted: this runner may
   * have been fenced, and the runner that took over may be writing blobs of the same key.
   */
  async discard(): Promise<void> {
    const blobs = [...this.#staged.values()].map((r) => r.blobId);
    this.#staged.clear();
    for (const blobId of blobs) await this.#store.artifacts?.deleteBlob(blobId).catch(() => {});
  }

  #capability(): ArtifactStore {
    const capability = this.#store.artifacts;
    if (!capability) {
      throw new StoreError(
        "STORE_INCOMPATIBLE",
        `The ${this.#store.kind} store does not keep artifacts; use a SQLite, PostgreSQL or memory store ` +
          "for processors that call ctx.artifacts.",
      );
    }
    return capability;
  }
}

function checkName(name: unknown): void {
  // Stored as text in the artifact's row: it must come back exactly.
  const unstorable = typeof name === "string" ? unstorableIn(name) : null;
  if (typeof name !== "string" || name.length === 0 || name.length > 256 || unstorable) {
    throw new InvalidOptionError(
      "name",
      `Invalid artifact name ${JSON.stringify(name)}${unstorable ? ` (it has ${unstorable})` : ""}: ` +
        'use a string of 1-256 characters without NUL or unpaired surrogates, e.g. "weights".',
    );
  }
}
