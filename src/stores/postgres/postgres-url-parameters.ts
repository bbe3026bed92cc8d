/** The URL parameters waymark reads itself, and never passes on to the driver. */
const WAYMARK_PARAMETERS = ["schema", "groupCommit"];
/** The URL parameters the pg driver reads (pg-connection-string and pg's client). */
const DRIVER_PARAMETERS = [
  "host",
  "port",
  "user",
  "password",
  "database",
  "db",
  "encoding",
  "client_encoding",
  "application_name",
  "fallback_application_name",
  "options",
  "ssl",
  "sslmode",
  "sslcert",
  "sslkey",
  "sslrootcert",
  "sslnegotiation",
  "uselibpqcompat",
  "replication",
  "statement_timeout",
  "lock_timeout",
  "idle_in_transaction_session_timeout",
  "query_timeout",
];

/**
 * Why a PostgreSQL store URL's parameters cannot be used, or null. A parameter nobody reads
 * would be dropped in silence: `?shema=jobs` would write to the default schema. It is named,
 * with the nearest known one and every parameter that is read.
 */
export function unknownParameter(parameters: URLSearchParams): string | null {
  for (const name of parameters.keys()) {
    if (WAYMARK_PARAMETERS.includes(name) || DRIVER_PARAMETERS.includes(name)) continue;
    const near = [...WAYMARK_PARAMETERS, ...DRIVER_PARAMETERS].find(
      (known) => editDistance(known.toLowerCase(), name.toLowerCase()) <= 2,
    );
    return (
      `it has the parameter ${JSON.stringify(name)}, which nothing reads` +
      `${near ? ` (did you mean ${near}?)` : ""}. waymark reads ` +
      `${WAYMARK_PARAMETERS.join(" and ")}; the pg driver reads ${DRIVER_PARAMETERS.join(", ")}`
    );
  }
  return null;
}

/** Levenshtein distance, for suggesting the parameter a typo meant. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        substitution,
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}
