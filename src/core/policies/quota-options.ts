import ms from "ms";
import { z } from "zod";
import { describeValue, InvalidOptionError } from "../errors.js";

/**
 * What one batch costs: a fixed number of tokens, or a function of the batch. A method-style
 * type, so that a processor's `cost(players)` fits the run option's `cost(batch)` too.
 */
export type QuotaCost<E> =
  | number
  | { bivarianceHack(batch: readonly E[]): number }["bivarianceHack"];

/**
 * A rate limit shared through the store: every run, `--concurrency` slot, process and machine
 * using the same store and `key` shares one budget of `limit` tokens per `per`. A batch takes
 * `cost` tokens before `processBatch` runs; `ctx.quota(key).take(n)` takes more inside it.
 *
 * @example
 * quota: { key: "nba-api", limit: 100, per: "1s" } // one token per player of each batch
 */
export interface QuotaOptions<E = unknown> {
  /** The name runners share the budget under: 1-128 characters, e.g. `"nba-api"`. */
  key: string;
  /** Tokens per `per`: the most all runners sharing the key deliver together. */
  limit: number;
  /** The window of `limit`: `"1s"`, `"1m"`, `"1h"` (any `ms` duration) or milliseconds. */
  per: string | number;
  /**
   * Tokens a window of `per` may see beyond `limit`: one batch's worth goes at once after a
   * quiet spell, and the rest lets a runner spend its reserved tokens a little late (a slow
   * batch, a busy event loop) without asking the store again, less 10 ms of tokens kept for
   * requests on their way. Raised, when lower, to one take (a batch's tokens go together) plus
   * the tokens of 20 ms.
   * @default a tenth of `limit`
   */
  burst?: number;
  /**
   * Tokens one batch takes before `processBatch` runs; 0 takes none (for a processor that
   * calls `ctx.quota(key).take(n)` itself). @default the batch's size (one per entity)
   */
  cost?: QuotaCost<E>;
  /**
   * Lower the rate when the API answers 429 (`RateLimitedError`), halving it on each new
   * pause, and raise it by a tenth of `limit` after each quiet period (10 s, or `per` when
   * longer), never above `limit`. @default false
   */
  adaptive?: boolean;
}

/** A quota with its duration parsed and its defaults filled in. */
export interface ResolvedQuota {
  readonly key: string;
  readonly limit: number;
  readonly perMs: number;
  readonly burst: number;
  readonly adaptive: boolean;
  /** The tokens of one batch. */
  readonly cost: (batch: readonly unknown[]) => number;
}

const KEY_RULE = 'expected 1-128 characters with no control characters, e.g. "nba-api"';
const PER_RULE = 'expected a duration such as "1s", "1m" or "1h", or milliseconds above 0';

const quotaObjectSchema = z.strictObject(
  {
    key: z
      .string({ error: KEY_RULE })
      .min(1, { error: KEY_RULE })
      .max(128, { error: `the key is too long; ${KEY_RULE}` })
      .refine((s) => !/\p{Cc}/u.test(s), { error: KEY_RULE }),
    limit: z
      .number({ error: "expected a number of tokens above 0, e.g. 100" })
      .positive({ error: "expected a number of tokens above 0, e.g. 100" })
      .refine(Number.isFinite, { error: "expected a finite number of tokens, e.g. 100" }),
    per: z.custom<string | number>((v) => perMsOf(v) !== null, { error: PER_RULE }),
    burst: z
      .number({ error: "expected tokens from 0 up, e.g. 10" })
      .min(0, { error: "expected tokens from 0 up, e.g. 10" })
      .refine(Number.isFinite, { error: "expected a finite number of tokens, e.g. 10" })
      .optional(),
    cost: z
      .custom<QuotaCost<unknown>>(
        (v) => typeof v === "function" || (typeof v === "number" && Number.isFinite(v) && v >= 0),
        { error: "expected tokens from 0 up, or a function (batch) => tokens, e.g. 1" },
      )
      .optional(),
    adaptive: z.boolean({ error: "expected true or false" }).optional(),
  },
  { error: 'expected { key, limit, per }, e.g. { key: "nba-api", limit: 100, per: "1s" }' },
);

/**
 * The zod schema of the `quota` option (processor and run): one quota or an array of them,
 * each key once. Not a z.union, which would report only "invalid input": the user should
 * hear which field of which quota is wrong.
 */
export const quotaSchema = z.any().superRefine((value, ctx) => {
  const list: unknown[] = Array.isArray(value) ? value : [value];
  list.forEach((quota, i) => {
    const result = quotaObjectSchema.safeParse(quota);
    for (const issue of result.error?.issues ?? []) {
      const at = Array.isArray(value) ? [i, ...issue.path] : issue.path;
      const message =
        issue.code === "unrecognized_keys"
          ? `unknown quota option ${issue.keys.map((k) => `\`${k}\``).join(", ")}; expected ` +
            "key, limit, per, burst, cost or adaptive"
          : issue.message;
      ctx.addIssue({ code: "custom", message, path: at as Array<string | number> });
    }
  });
  const keys = list.map((quota) => (quota as { key?: unknown } | null)?.key);
  const repeated = keys.find((key, i) => keys.indexOf(key) !== i);
  if (repeated !== undefined) {
    ctx.addIssue({
      code: "custom",
      message: `expected each key once; ${JSON.stringify(repeated)} is repeated`,
    });
  }
}) as z.ZodType<QuotaOptions<never> | readonly QuotaOptions<never>[]>;

/** Milliseconds of a `per` option, or null when it is not a positive duration. */
function perMsOf(value: unknown): number | null {
  let parsed: number | undefined;
  if (typeof value === "number") parsed = value;
  else if (typeof value === "string") {
    try {
      parsed = ms(value as ms.StringValue);
    } catch {
      // ms throws on an empty or over-long string: not a duration either.
    }
  }
  return typeof parsed === "number" && Number.isFinite(parsed) && parsed > 0 ? parsed : null;
}

/** Fills the defaults of validated quota options; an empty list for none. */
export function resolveQuotas(
  option: QuotaOptions<never> | readonly QuotaOptions<never>[] | undefined,
): ResolvedQuota[] {
  if (option === undefined) return [];
  return [option].flat().map((quota) => {
    const cost = quota.cost;
    return Object.freeze({
      key: quota.key,
      limit: quota.limit,
      perMs: perMsOf(quota.per) as number,
      burst: quota.burst ?? quota.limit / 10,
      adaptive: quota.adaptive ?? false,
      cost:
        cost === undefined
          ? (batch: readonly unknown[]) => batch.length
          : typeof cost === "number"
            ? () => cost
            : (batch: readonly unknown[]) => checkedCost(quota.key, cost(batch as never[]), batch),
    });
  });
}

/** A `cost()` result must be tokens from 0 up: anything else is refused before any take. */
function checkedCost(key: string, tokens: unknown, batch: readonly unknown[]): number {
  if (typeof tokens === "number" && Number.isFinite(tokens) && tokens >= 0) return tokens;
  throw new InvalidOptionError(
    "quota.cost",
    `cost() of quota ${JSON.stringify(key)} returned ${describeValue(tokens)} for a batch of ` +
      `${batch.length}; return the tokens the batch takes, from 0 up, e.g. batch.length.`,
  );
}

/** The tokens of `ctx.quota(key).take(tokens)`: a number from 0 up, or a refusal naming it. */
export function checkedTokens(key: string, tokens: unknown): number {
  if (typeof tokens === "number" && Number.isFinite(tokens) && tokens >= 0) return tokens;
  throw new InvalidOptionError(
    "tokens",
    `ctx.quota(${JSON.stringify(key)}).take(tokens) expected tokens from 0 up, got ` +
      `${describeValue(tokens)}; e.g. take(1) for one API call.`,
  );
}

/** The error for a quota key the processor (or the run) does not declare. */
export function undeclared(
  key: string,
  where: string,
  keys: readonly string[],
): InvalidOptionError {
  return new InvalidOptionError(
    "quota",
    `${where} has no quota ${JSON.stringify(key)}: ` +
      (keys.length === 0
        ? "it declares none. "
        : `it declares ${keys.map((k) => JSON.stringify(k)).join(", ")}. `) +
      `Add { key: ${JSON.stringify(key)}, limit, per } to the processor's (or the run's) quota option.`,
  );
}
