/**
 * Database errors that a retry cannot fix: the same statement with the same data fails the
 * same way (a syntax error, a unique violation, a value out of range). By default a batch
 * failing with one is not retried; a processor's `retry.retryable`, when given, decides
 * instead. Errors are recognised by shape, whichever driver threw them: a PostgreSQL SQLSTATE
 * (`code: "23505"`, node-postgres and postgres.js alike) or a SQLite result code
 * (`code: "SQLITE_CONSTRAINT_UNIQUE"`, better-sqlite3), on the error or one of its causes.
 * Everything else (network, locks, deadlocks, timeouts, a full disk) stays transient.
 */

/** SQLSTATE classes whose every code is permanent, by name (PostgreSQL, Appendix A). */
const PG_CLASSES: Readonly<Record<string, string>> = {
  "0A": "feature_not_supported",
  "21": "cardinality_violation",
  "22": "data_exception",
  "23": "integrity_constraint_violation",
  "26": "invalid_sql_statement_name",
  "2F": "sql_routine_exception",
  "34": "invalid_cursor_name",
  "3F": "invalid_schema_name",
  "42": "syntax_error_or_access_rule_violation",
  "44": "with_check_option_violation",
};

/** The names of the codes a batch meets most, so that a message reads as PostgreSQL's docs. */
const PG_CODES: Readonly<Record<string, string>> = {
  "22001": "string_data_right_truncation",
  "22003": "numeric_value_out_of_range",
  "22007": "invalid_datetime_format",
  "22008": "datetime_field_overflow",
  "22012": "division_by_zero",
  "22023": "invalid_parameter_value",
  "22P02": "invalid_text_representation",
  "23502": "not_null_violation",
  "23503": "foreign_key_violation",
  "23505": "unique_violation",
  "23514": "check_violation",
  "23P01": "exclusion_violation",
  "25P02": "in_failed_sql_transaction",
  "42501": "insufficient_privilege",
  "42601": "syntax_error",
  "42703": "undefined_column",
  "42804": "datatype_mismatch",
  "42883": "undefined_function",
  "42P01": "undefined_table",
};

/** SQLite primary result codes that are permanent: a statement or its data is wrong. */
const SQLITE_PERMANENT = new Set(["CONSTRAINT", "ERROR", "MISMATCH", "RANGE", "TOOBIG"]);
/** Extended codes of a permanent primary code that a retry can still fix. */
const SQLITE_TRANSIENT = new Set(["SQLITE_ERROR_RETRY", "SQLITE_ERROR_SNAPSHOT"]);

const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * Why `error` is permanent, as `23505 unique_violation` or `SQLITE_CONSTRAINT_UNIQUE`, or null
 * when it may be transient. Looks at the error and up to three causes.
 */
export function permanentError(error: unknown): string | null {
  let current = error;
  for (let depth = 0; depth < 4 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") {
      const reason = permanentCode(code);
      if (reason !== null) return reason;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return null;
}

function permanentCode(code: string): string | null {
  if (code.startsWith("SQLITE_")) {
    const primary = code.slice(7).split("_", 1)[0] as string;
    return SQLITE_PERMANENT.has(primary) && !SQLITE_TRANSIENT.has(code) ? code : null;
  }
  if (!SQLSTATE.test(code)) return null;
  const named = PG_CODES[code];
  if (code === "25P02") {
    return `${code} ${named} (an earlier statement of the transaction failed and its error was caught)`;
  }
  const className = PG_CLASSES[code.slice(0, 2)];
  if (className === undefined) return null;
  return named ? `${code} ${named}` : `${code} (class ${code.slice(0, 2)} ${className})`;
}
