import { createHash } from "node:crypto";
import type { Cursor } from "./types.js";

/**
 * The stable key of one entity's effect outside the store: the same for a run, its resume and
 * a redrive of that entity, so an external API can deduplicate.
 */
export function idempotencyKeyOf(
  processor: string,
  version: number,
  partition: string,
  id: Cursor,
): string {
  return createHash("sha256")
    .update(JSON.stringify([processor, version, partition, id]))
    .digest("hex");
}
