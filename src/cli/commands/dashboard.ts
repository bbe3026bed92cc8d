import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { type Command, Option } from "commander";
import { InvalidOptionError } from "../../core/errors.js";
import { consoleLogger } from "../../core/logger.js";
import { isLoopback } from "../../dashboard/guard.js";
import { printJson, type StoreCommandOptions, usingStore, withStoreOptions } from "../shared.js";

interface DashboardCommandOptions extends StoreCommandOptions {
  port: string;
  host: string;
  allowWrites?: boolean;
  allowedHost: string[];
  token?: string;
}

/** `waymark dashboard`: a local web page of status, runs, stats, stale and advice. */
export function registerDashboard(program: Command): void {
  withStoreOptions(
    program
      .command("dashboard")
      .description("serve a live web dashboard (127.0.0.1 only unless --host says otherwise)")
      .option("--port <port>", "port to listen on (0: any free port)", "4400")
      .option("--host <host>", "address to bind; beyond loopback a token is required", "127.0.0.1")
      .option("--allow-writes", "enable the reset and gc buttons")
      .option(
        "--allowed-host <name>",
        "a host name the page is reached by, besides localhost and IP addresses (repeatable)",
        (name: string, names: string[]) => [...names, name],
        [],
      )
      .addOption(
        new Option(
          "--token <secret>",
          "required on every request; generated when --host is beyond loopback and none is given",
        ).env("WAYMARK_DASHBOARD_TOKEN"),
      ),
    'print {"url", "writes"} as JSON on stdout once listening (e.g. to find the port of --port 0)',
  ).action(async (options: DashboardCommandOptions) => {
    const port = Number(options.port);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new InvalidOptionError(
        "--port",
        `Invalid --port ${JSON.stringify(options.port)}: expected a port from 0 to 65535, e.g. 4400.`,
      );
    }
    // Reachable from other machines: never without a secret. One made up here is printed in
    // the address, as Jupyter does; one given is not.
    const generated =
      options.token === undefined && !isLoopback(options.host)
        ? randomBytes(24).toString("base64url")
        : undefined;
    const token = options.token ?? generated;
    const writes = options.allowWrites ?? false;
    await usingStore(
      options.store,
      async (store) => {
        // Loaded here so that other commands never load the web server.
        const { startDashboard } = await import("../../dashboard/server.js");
        const dashboard = await startDashboard({
          store,
          port,
          host: options.host,
          allowWrites: writes,
          allowedHosts: options.allowedHost,
          ...(token === undefined ? {} : { token }),
        });
        const url = generated === undefined ? dashboard.url : `${dashboard.url}?token=${generated}`;
        if (options.json) printJson({ url, writes });
        consoleLogger.info(
          `dashboard on ${url} (${writes ? "writes allowed" : "read-only"}); Ctrl-C stops it.`,
        );
        await Promise.race([once(process, "SIGINT"), once(process, "SIGTERM")]);
        await dashboard.close();
      },
      writes ? "change" : "read",
    );
  });
}
