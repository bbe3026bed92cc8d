// The dashboard mounted at /waymark/ in an Express 5 application, through @hono/node-server's
// adapter (the same works for any framework that takes a Node (req, res) handler).
//
//   node --import tsx examples/dashboard-mount/express.ts --store sqlite:.waymark/waymark.db
import { parseArgs } from "node:util";
import { getRequestListener } from "@hono/node-server";
import express from "express";
import { createDashboardApp } from "../../src/dashboard/index.js";
import type { CheckpointStore } from "../../src/index.js";
import { openStore } from "../../src/index.js";

/** Your application, with the dashboard at /waymark/ beside your own routes. */
export function appWithDashboard(store: CheckpointStore, hostName: string): express.Express {
  const app = express();
  app.get("/health", (_req, res) => {
    res.json({ ok: true });
  });
  // Express strips /waymark from req.url, so the dashboard sees its own paths; its page uses
  // relative links, so it works under any prefix. Mounted in a server reached by a name,
  // the name goes into allowedHosts; put your own authentication in front as for any page.
  const dashboard = createDashboardApp({ store, allowedHosts: [hostName] });
  app.use("/waymark", getRequestListener(dashboard.fetch));
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      store: { type: "string", default: "sqlite:.waymark/waymark.db" },
    },
  });
  const store = await openStore(values.store);
  appWithDashboard(store, "localhost").listen(3000, "127.0.0.1", () => {
    console.error("dashboard on http://localhost:3000/waymark/");
  });
}
