/**
 * Before shards had a column of their own, a shard's checkpoint was stored under the key
 * `partition#id`. Migration 4 of each SQL store splits such keys by this rule, and only this
 * rule: the text after the LAST `#` is a shard id when it is 1-64 characters of letters
 * `A-Z a-z`, digits, `_`, `-` and `.`, and something non-empty comes before the `#`.
 * `2024-01-15#0` becomes partition `2024-01-15`, shard `0`; `#3`, `a#` and `x#y z` stay whole
 * partitions. A partition that was literally named `ticket#42` cannot be told apart from
 * shard 42 of `ticket`, and is moved too: `waymark status` shows it as such after upgrading.
 */
const LEGACY_SHARD_KEY = /^(.+)#([A-Za-z0-9_.-]{1,64})$/s;

/** The PostgreSQL regular expression for the same rule (`.` matches newlines there too). */
export const LEGACY_SHARD_KEY_PG = "^(.+)#([A-Za-z0-9_.-]{1,64})$";

/** Splits an old `partition#id` key; a key that is no shard key comes back whole. */
export function splitLegacyShardKey(key: string): { partition: string; shard: string } {
  const match = LEGACY_SHARD_KEY.exec(key);
  return match
    ? { partition: match[1] as string, shard: match[2] as string }
    : { partition: key, shard: "" };
}
