import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { InvalidOptionError } from "../core/errors.js";
import { createDashboardApp, type DashboardAppOptions } from "./app.js";
import { isLoopback } from "./guard.js";

/** Options of {@link startDashboard}. */
export interface DashboardOptions extends DashboardAppOptions {
  /** 0 picks a free port. @default 4400 */
  readonly port?: number;
  /** Only this machine can connect by default. @default "127.0.0.1" */
  readonly host?: string;
}

/** A running dashboard. */
export interface Dashboard {
  readonly url: string;
  /** Stops listening and ends open live-update streams. */
  close(): Promise<void>;
}

/**
 * Serves the dashboard until `close()`. Bound beyond loopback (`host: "0.0.0.0"`, a LAN
 * address), it needs a `token`, and `allowedHosts` for the names it is reached by.
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const hostname = options.host ?? "127.0.0.1";
  if (!isLoopback(hostname) && !options.token) {
    throw new InvalidOptionError(
      "token",
      `A dashboard bound to ${hostname} can be reached from other machines: give it a token ` +
        "(startDashboard({ token }), or waymark dashboard --token / WAYMARK_DASHBOARD_TOKEN), " +
        "or bind it to 127.0.0.1.",
    );
  }
  const app = createDashboardApp(options);
  return new Promise((resolve, reject) => {
    const server = serve(
      { fetch: app.fetch, port: options.port ?? 4400, hostname },
      (info: AddressInfo) => {
        const host = info.family === "IPv6" ? `[${info.address}]` : info.address;
        resolve({
          url: `http://${host}:${info.port}/`,
          close: () =>
            new Promise<void>((done) => {
              server.close(() => done());
              // Live-update streams never end on their own.
              (server as { closeAllConnections?: () => void }).closeAllConnections?.();
            }),
        });
      },
    );
    server.once("error", reject);
  });
}
