import type { Command } from "commander";
import { consoleLogger } from "../../core/logger.js";
import { applySchema, describeSchema } from "../../stores/schema.js";
import { printJson, type StoreCommandOptions, withStoreOptions } from "../shared.js";

/**
 * `waymark schema`: the SQL of a store's tables, for DBAs who create schemas themselves, and
 * `--apply` to create or migrate them as a run would.
 */
export function registerSchema(program: Command): void {
  withStoreOptions(
    program
      .command("schema")
      .description("print the SQL that creates or migrates a store's tables; --apply runs it")
      .option("--apply", "create or migrate the store's tables now (what a run does on first use)")
      .addHelpText(
        "after",
        `
Without --apply nothing is changed: the SQL goes to stdout, to review and run by hand
(psql -f, sqlite3), and a store created from it is found current by every waymark process.
On PostgreSQL it holds the migrations the store still needs (all of them for a new schema;
?schema=NAME in the URL picks the schema); on SQLite the whole schema of a fresh store.

  waymark schema --store postgres://admin@db/app?schema=jobs > waymark.sql
  waymark schema --store postgres://admin@db/app?schema=jobs --apply`,
      ),
    'print {"kind", "location", "current", "latest", "ddl"} (with --apply: {"from", "to"})',
  ).action(async (options: StoreCommandOptions & { apply?: boolean }) => {
    if (options.apply) {
      const { from, to } = await applySchema(options.store);
      const { location } = await describeSchema(options.store);
      if (options.json) return printJson({ location, from, to });
      process.stdout.write(
        from === to
          ? `${location} is at schema version ${to} already: nothing to do.\n`
          : `${location}: schema version ${from} -> ${to}.\n`,
      );
      return;
    }
    const schema = await describeSchema(options.store);
    if (options.json) return printJson(schema);
    consoleLogger.info(
      `${schema.location} is at schema version ${schema.current}; this waymark uses ${schema.latest}.`,
    );
    process.stdout.write(schema.ddl);
  });
}
