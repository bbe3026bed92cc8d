import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { createDashboardApp, type DashboardAppOptions } from "./app.js";

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

/** Serves the dashboard until `close()`. */
export function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const app = createDashboardApp(options);
  const hostname = options.host ?? "127.0.0.1";
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
