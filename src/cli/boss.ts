import { WaymarkError } from "../core/errors.js";
import { consoleLogger } from "../core/logger.js";
import type { PgBossLike } from "../integrations/pg-boss.js";
import { EXIT } from "./exit-codes.js";
import { CliError } from "./shared.js";

/** The pg-boss calls the CLI makes beyond those `waymark/pg-boss` needs. */
export interface CliBoss extends PgBossLike {
  start(): Promise<unknown>;
  stop(options: { graceful: boolean; wait: boolean; timeout: number }): Promise<void>;
  on(event: "error", listener: (error: Error) => void): unknown;
}

/**
 * Starts pg-boss (an optional peer, loaded only here) on the store's database. The store's
 * `?schema=` parameter names waymark's schema, not pg-boss's, so it is left out.
 */
export async function startBoss(storeUrl: string, schema: string): Promise<CliBoss> {
  if (!/^postgres(ql)?:\/\//.test(storeUrl)) {
    throw new CliError(
      `pg-boss queues live in PostgreSQL: pass --store postgres://user@host:5432/database.`,
      EXIT.usage,
    );
  }
  let PgBoss: new (options: object) => CliBoss;
  try {
    PgBoss = ((await import("pg-boss")) as { default: typeof PgBoss }).default;
  } catch (cause) {
    throw new WaymarkError(
      "MISSING_PEER",
      'The worker and enqueue commands need the optional package "pg-boss" (10.x): ' +
        "install it with `npm install pg-boss@10`.",
      { cause },
    );
  }
  const url = new URL(storeUrl);
  // waymark's own parameters, which the server would refuse as settings.
  url.searchParams.delete("schema");
  url.searchParams.delete("groupCommit");
  const boss = new PgBoss({ connectionString: url.href, schema, max: 4 });
  boss.on("error", (error) => consoleLogger.error(`pg-boss: ${error.message}`));
  try {
    await boss.start();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new CliError(`Cannot start pg-boss on ${url.host}: ${message}`, EXIT.store);
  }
  return boss;
}
