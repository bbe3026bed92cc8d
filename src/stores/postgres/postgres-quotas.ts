import { createHash } from "node:crypto";
import { ADAPTIVE } from "../../core/store/quota-bucket.js";
import type {
  QuotaGiveBack,
  QuotaGrant,
  QuotaPause,
  QuotaPauseState,
  QuotaStore,
  QuotaTake,
  StoredQuota,
} from "../../core/store/quota-store.js";
import { type QuotaRow, toStoredQuota } from "../quota-rows.js";
import type { PgRun } from "./postgres-group.js";
import type { PgStatement } from "./postgres-sql.js";

/** The store's clock in SQL: the runner's `now` (`$n`), or the server's when it is null. */
const clock = (n: number) =>
  `COALESCE($${n}::float8, floor(extract(epoch from statement_timestamp()) * 1000))`;

/** A key's rate at `p.now`, from its row `q`: `rateAt` of quota-bucket.ts. */
const quiet = `p.now - GREATEST(q.rate_changed_at, COALESCE(q.last_pause_at, 0))
    >= GREATEST(${ADAPTIVE.minQuietMs}, p.per)`;
const raised = `(p.adaptive AND LEAST(q.rate, p.lim) < p.lim AND ${quiet})`;
const rateNow = `CASE WHEN NOT p.adaptive THEN p.lim
    WHEN ${raised} THEN LEAST(p.lim, LEAST(q.rate, p.lim) + p.lim * ${ADAPTIVE.increase})
    ELSE LEAST(q.rate, p.lim) END`;
/** `waiting` without `p.owner` and without the owners whose leases have ended. */
const stillWaiting = (waiting: string) =>
  `(SELECT COALESCE(jsonb_object_agg(w.key, w.value), '{}'::jsonb) FROM jsonb_each(${waiting}) w
    WHERE w.key <> p.owner AND (w.value #>> '{}')::float8 > p.now)`;
const minute = "floor(p.now / 60000) * 60000";
/**
 * A quota statement's transaction commits without waiting for the WAL flush (the setting is
 * the transaction's own): a quota row that loses its last writes to a server crash costs a
 * few turns, while a flush per lease would put a disk sync in every runner's wait.
 */
const ASYNC_COMMIT = "set_config('synchronous_commit', 'off', true) AS async_commit";
const SPEC = `$1::text AS key, $2::float8 AS lim, $3::float8 AS per, $4::float8 AS burst,
    $5::boolean AS adaptive`;

/**
 * The quotas of a `PostgresStore`: one row per key, each call one statement that locks the
 * row (`FOR UPDATE`), so that every process and machine takes turns on it, judged by the
 * server's clock. The same arithmetic as `quota-bucket.ts`, in SQL.
 */
export class PostgresQuotas implements QuotaStore {
  readonly #run: PgRun;
  readonly #now: (now: number) => number | null;
  readonly #sql: Record<"take" | "giveBack" | "pause" | "pauses" | "list", PgStatement>;

  /** `now` gives the runner's `now`, or null where the server's clock decides. */
  constructor(s: string, run: PgRun, now: (now: number) => number | null) {
    this.#run = run;
    this.#now = now;
    this.#sql = {
      take: named(takeSql(s)),
      giveBack: named(giveBackSql(s)),
      pause: named(pauseSql(s)),
      pauses: named(`SELECT key, paused_until, ${clock(2)} AS store_now FROM ${s}.quotas
                     WHERE key = ANY($1::text[])`),
      // `*`: never prepared, so that a migration adding a column cannot break it.
      list: { text: `SELECT * FROM ${s}.quotas ORDER BY key` },
    };
  }

  async take(request: QuotaTake): Promise<QuotaGrant> {
    const values = [
      ...specValues(request),
      request.tokens,
      request.credit,
      request.owner,
      this.#now(request.now),
    ];
    // Two first takes of a new key may both insert; the one that lost simply asks again.
    for (;;) {
      const { rows } = await this.#run<GrantRow>(this.#sql.take, values);
      const row = rows[0];
      if (!row) continue;
      return {
        tokens: request.tokens,
        start: row.start,
        intervalMs: row.interval_ms,
        credit: request.credit,
        end: row.lease_end,
        storeNow: row.store_now,
        pausedUntil: row.paused_until,
        rate: row.rate,
      };
    }
  }

  async giveBack(request: QuotaGiveBack): Promise<void> {
    await this.#run(this.#sql.giveBack, [
      request.key,
      request.owner,
      request.end,
      request.from,
      request.tokens,
      this.#now(request.now),
    ]);
  }

  async pause(request: QuotaPause): Promise<QuotaPauseState> {
    const values = [...specValues(request), request.retryAfterMs, this.#now(request.now)];
    for (;;) {
      const { rows } = await this.#run<PauseRow>(this.#sql.pause, values);
      const row = rows[0];
      if (row) return { key: request.key, pausedUntil: row.paused_until, storeNow: row.store_now };
    }
  }

  async pauses(keys: readonly string[], now: number): Promise<QuotaPauseState[]> {
    const { rows } = await this.#run<PauseRow & { key: string }>(this.#sql.pauses, [
      keys,
      this.#now(now),
    ]);
    const found = new Map(rows.map((row) => [row.key, row]));
    // A key with no row yet was never paused; the clock comes from any row, or the runner.
    const storeNow = rows[0]?.store_now ?? now;
    return keys.map((key) => ({ key, pausedUntil: found.get(key)?.paused_until ?? 0, storeNow }));
  }

  async list(): Promise<StoredQuota[]> {
    const { rows } = await this.#run<QuotaRow>(this.#sql.list, []);
    return rows.map(toStoredQuota);
  }
}

interface GrantRow {
  start: number;
  interval_ms: number;
  lease_end: number;
  store_now: number;
  paused_until: number;
  rate: number;
}

interface PauseRow {
  paused_until: number;
  store_now: number;
}

function specValues(spec: QuotaTake | QuotaPause): unknown[] {
  return [spec.key, spec.limit, spec.perMs, spec.burst, spec.adaptive];
}

/** A take: the key's row locked, its rate and schedule moved on, or the row created. */
function takeSql(s: string): string {
  return `WITH p AS (
      SELECT ${SPEC}, $6::float8 AS tokens, $7::float8 AS credit, $8::text AS owner,
        ${clock(9)} AS now, ${ASYNC_COMMIT}
    ), cur AS (
      SELECT q.*, ${rateNow} AS rate_now, ${raised} AS raised
      FROM ${s}.quotas q, p WHERE q.key = p.key FOR UPDATE OF q
    ), t AS (
      SELECT cur.*, p.per / cur.rate_now AS interval_ms, ${minute} AS minute,
        GREATEST(cur.tat, p.now, cur.paused_until + p.credit * p.per / cur.rate_now) AS start
      FROM cur, p
    ), updated AS (
      UPDATE ${s}.quotas q SET quota_limit = p.lim, per_ms = p.per, burst = p.burst,
        adaptive = p.adaptive, rate = t.rate_now,
        rate_changed_at = CASE WHEN t.raised THEN p.now ELSE t.rate_changed_at END,
        tat = t.start + p.tokens * t.interval_ms, taken = t.taken + p.tokens,
        minute_start = t.minute,
        minute_taken = CASE WHEN t.minute_start = t.minute THEN t.minute_taken + p.tokens
          ELSE p.tokens END,
        prev_minute_taken = CASE WHEN t.minute_start = t.minute THEN t.prev_minute_taken
          WHEN t.minute_start = t.minute - 60000 THEN t.minute_taken ELSE 0 END,
        waiting = ${stillWaiting("t.waiting")} || CASE
          WHEN t.start - p.credit * t.interval_ms > p.now
          THEN jsonb_build_object(p.owner, t.start + p.tokens * t.interval_ms)
          ELSE '{}'::jsonb END,
        updated_at = p.now
      FROM t, p WHERE q.key = t.key
      RETURNING t.start, t.interval_ms, q.tat AS lease_end, p.now AS store_now, q.paused_until,
        q.rate
    ), inserted AS (
      INSERT INTO ${s}.quotas AS q (key, quota_limit, per_ms, burst, adaptive, rate,
        rate_changed_at, tat, taken, minute_start, minute_taken, updated_at)
      SELECT p.key, p.lim, p.per, p.burst, p.adaptive, p.lim, p.now,
        p.now + p.tokens * p.per / p.lim, p.tokens, ${minute}, p.tokens, p.now
      FROM p WHERE NOT EXISTS (SELECT 1 FROM cur)
      ON CONFLICT (key) DO NOTHING
      RETURNING q.updated_at::float8 AS start, q.per_ms / q.rate AS interval_ms,
        q.tat AS lease_end, q.updated_at::float8 AS store_now, q.paused_until, q.rate
    )
    SELECT * FROM updated UNION ALL SELECT * FROM inserted`;
}

/** A give-back: the schedule's tail moves back only when it is still this lease's end. */
function giveBackSql(s: string): string {
  const tail = "abs(q.tat - $3::float8) < 1e-6";
  return `UPDATE ${s}.quotas q SET
      tat = CASE WHEN ${tail} THEN $4::float8 ELSE q.tat END,
      taken = CASE WHEN ${tail} THEN GREATEST(0, q.taken - $5::float8) ELSE q.taken END,
      minute_taken = CASE WHEN ${tail} AND q.minute_start = ${minute}
        THEN GREATEST(0, q.minute_taken - $5::float8) ELSE q.minute_taken END,
      waiting = ${stillWaiting("q.waiting")}
    FROM (SELECT $2::text AS owner, ${clock(6)} AS now, ${ASYNC_COMMIT}) p
    WHERE q.key = $1`;
}

/** A 429: the pause lengthened, an adaptive rate halved when the pause is a new one. */
function pauseSql(s: string): string {
  const lowered = "(p.adaptive AND c.episode)";
  return `WITH p AS (
      SELECT ${SPEC}, $6::float8 AS retry, ${clock(7)} AS now, ${ASYNC_COMMIT}
    ), cur AS (
      SELECT q.key, p.now >= q.paused_until AS episode, ${rateNow} AS rate_now,
        ${raised} AS raised
      FROM ${s}.quotas q, p WHERE q.key = p.key FOR UPDATE OF q
    ), updated AS (
      UPDATE ${s}.quotas q SET quota_limit = p.lim, per_ms = p.per, burst = p.burst,
        adaptive = p.adaptive,
        rate = CASE WHEN ${lowered} THEN GREATEST(p.lim * ${ADAPTIVE.floor},
          c.rate_now * ${ADAPTIVE.decrease}) ELSE c.rate_now END,
        rate_changed_at = CASE WHEN ${lowered} OR c.raised THEN p.now ELSE q.rate_changed_at END,
        paused_until = GREATEST(q.paused_until, p.now + p.retry),
        pauses = q.pauses + CASE WHEN c.episode THEN 1 ELSE 0 END,
        last_pause_at = p.now, updated_at = p.now
      FROM cur c, p WHERE q.key = c.key
      RETURNING q.paused_until, p.now AS store_now
    ), inserted AS (
      INSERT INTO ${s}.quotas AS q (key, quota_limit, per_ms, burst, adaptive, rate,
        rate_changed_at, tat, paused_until, pauses, last_pause_at, minute_start, updated_at)
      SELECT p.key, p.lim, p.per, p.burst, p.adaptive,
        CASE WHEN p.adaptive THEN GREATEST(p.lim * ${ADAPTIVE.floor}, p.lim * ${ADAPTIVE.decrease})
          ELSE p.lim END,
        p.now, p.now, p.now + p.retry, 1, p.now, ${minute}, p.now
      FROM p WHERE NOT EXISTS (SELECT 1 FROM cur)
      ON CONFLICT (key) DO NOTHING
      RETURNING q.paused_until, q.updated_at::float8 AS store_now
    )
    SELECT * FROM updated UNION ALL SELECT * FROM inserted`;
}

/** Prepared once per connection; named after the text, which includes the schema. */
function named(text: string): PgStatement {
  return { text, name: `waymark_${createHash("sha256").update(text).digest("hex").slice(0, 24)}` };
}
