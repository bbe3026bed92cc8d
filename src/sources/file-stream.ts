import { createReadStream } from "node:fs";
import { createGunzip } from "node:zlib";

/** A file's bytes from `start` on, as a stream of chunks. */
export interface FileChunks {
  readonly stream: AsyncIterable<Buffer>;
  /** The offset of the stream's first byte. */
  readonly start: number;
}

/**
 * Opens `path` at byte `start`. A plain file seeks there. A gzip file cannot seek: it is
 * decompressed from its beginning and the first `start` bytes are dropped, so a resume
 * costs decompressing the prefix again.
 */
export function openChunks(path: string, start: number, gzip: boolean): FileChunks {
  if (!gzip) return { stream: createReadStream(path, { start }), start };
  return { stream: dropPrefix(createReadStream(path).pipe(createGunzip()), start), start };
}

async function* dropPrefix(stream: AsyncIterable<Buffer>, bytes: number): AsyncGenerator<Buffer> {
  let left = bytes;
  for await (const chunk of stream) {
    if (left >= chunk.length) {
      left -= chunk.length;
      continue;
    }
    yield left > 0 ? chunk.subarray(left) : chunk;
    left = 0;
  }
}
