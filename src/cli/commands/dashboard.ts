import { once } from "node:events";
import type { Command } from "commander";
import { InvalidOptionError } from "../../core/errors.js";
import { consoleLogger } from "../../core/logger.js";
import { printJson, type StoreCommandOptions, usingStore, withStoreOptions } from "../shared.js";

/** `waymark dashboard`: a local web page of status, runs, stats, stale and advice. */
export function registerDashboard(program: Command): void {
  withStoreOptions(
    program
      .command("dashboard")
      .description("serve a live web dashboard (127.0.0.1 only unless --host says otherwise)")
      .option("--port <port>", "port to listen on (0: any free port)", "4400")
      .option("--host <host>", "address to bind; keep 127.0.0.1 unless behind a proxy", "127.0.0.1")
      .option("--allow-writes", "enable the reset and gc buttons"),
    'print {"url", "writes"} as JSON on stdout once listening (e.g. to find the port of --port 0)',
  ).action(
    async (
      options: StoreCommandOptions & { port: string; host: string; allowWrites?: boolean },
    ) => {
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65_535) {
        throw new InvalidOptionError(
          "--port",
          `Invalid --port ${JSON.stringify(options.port)}: expected a port from 0 to 65535, e.g. 4400.`,
        );
      }
      await usingStore(options.store, async (store) => {
        // Loaded here so that other commands never load the web server.
        const { startDashboard } = await import("../../dashboard/server.js");
        const dashboard = await startDashboard({
          store,
          port,
          host: options.host,
          allowWrites: options.allowWrites ?? false,
        });
        const writes = options.allowWrites ?? false;
        if (options.json) printJson({ url: dashboard.url, writes });
        consoleLogger.info(
          `dashboard on ${dashboard.url} (${writes ? "writes allowed" : "read-only"}); Ctrl-C stops it.`,
        );
        await Promise.race([once(process, "SIGINT"), once(process, "SIGTERM")]);
        await dashboard.close();
      });
    },
  );
}
