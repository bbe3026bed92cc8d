import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { getRequestListener } from "@hono/node-server";
import { appWithDashboard } from "../../examples/dashboard-mount/express.js";
import { createDashboardApp, startDashboard } from "../../src/dashboard/index.js";
import { defineProcessor, InvalidOptionError, run, SqliteStore } from "../../src/index.js";
import { noBackoff } from "../support/time.js";

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request with exactly these headers (Host included), as any client may send. */
function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: options.method ?? "GET", headers: options.headers },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

const FORM = { "content-type": "application/x-www-form-urlencoded" };

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

describe("the dashboard mounted in a plain node:http server", () => {
  let dir: string;
  let store: SqliteStore;
  let server: Server;
  let host: string;
  const writable = () =>
    createDashboardApp({ store, allowWrites: true, allowedHosts: ["ops.internal"] });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "waymark-mount-"));
    store = new SqliteStore(join(dir, "waymark.db"));
    const failing = defineProcessor({
      name: "mounted",
      batchSize: 5,
      entities: () => Array.from({ length: 20 }, (_, i) => i + 1),
      id: (n: number) => n,
      processBatch: ([first]) => {
        if (first === 11) throw new Error("quota");
      },
    });
    assert.equal((await run(failing, { store, logger: false, sleep: noBackoff })).status, "failed");
    // The application's own routes, and the dashboard under /ops/ (the prefix stripped).
    const dashboard = getRequestListener(writable().fetch);
    server = createServer((req, res) => {
      if (req.url?.startsWith("/ops/")) {
        req.url = req.url.slice("/ops".length);
        void dashboard(req, res);
        return;
      }
      res.writeHead(404).end("the application's own 404");
    });
    host = await listen(server);
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves the page under the prefix with relative links, beside the application's routes", async () => {
    const page = await send(`http://${host}/ops/`);
    assert.equal(page.status, 200);
    assert.match(page.body, /<td class="processor">mounted<\/td>/);
    assert.match(page.body, /new EventSource\("events"\)/, "relative, so it works under /ops/");
    assert.match(page.body, /fetch\("actions\/" \+ action/);
    assert.equal((await send(`http://${host}/other`)).body, "the application's own 404");
  });

  it("answers localhost, IP addresses and allowedHosts, and refuses any other Host", async () => {
    const port = host.split(":")[1];
    for (const name of [
      `localhost:${port}`,
      `127.0.0.1:${port}`,
      "[::1]",
      "ops.internal",
      "ops.internal:8080",
    ]) {
      const reply = await send(`http://${host}/ops/`, { headers: { host: name } });
      assert.equal(reply.status, 200, name);
    }
    for (const name of [
      "evil.example",
      `evil.example:${port}`,
      "ops.internal.evil.example",
      "127.0.0.1.nip.io",
    ]) {
      const reply = await send(`http://${host}/ops/`, { headers: { host: name } });
      assert.equal(reply.status, 403, name);
      assert.match(reply.body, /is not allowed\. Add it to the dashboard's allowedHosts/);
    }
  });

  it("refuses the DNS-rebinding write: a foreign Host with a matching Origin", async () => {
    const before = await store.getCheckpoint({
      processor: "mounted",
      partition: "default",
      shard: "",
    });
    assert.ok(before);
    const reply = await send(`http://${host}/ops/actions/reset`, {
      method: "POST",
      headers: { ...FORM, host: "evil.example", origin: "http://evil.example" },
      body: "processor=mounted&partition=default",
    });
    assert.equal(reply.status, 403);
    assert.ok(await store.getCheckpoint({ processor: "mounted", partition: "default", shard: "" }));
  });

  it("accepts a write only from the dashboard's own origin", async () => {
    const gc = (headers: Record<string, string>) =>
      send(`http://${host}/ops/actions/gc`, {
        method: "POST",
        headers: { ...FORM, ...headers },
        body: "older-than=86400000",
      });
    const foreign = await gc({ origin: "http://evil.example" });
    assert.equal(foreign.status, 403);
    assert.match(foreign.body, /Cross-origin write refused/);
    assert.equal((await gc({})).status, 403, "no Origin and no Sec-Fetch-Site: not from the page");
    assert.equal((await gc({ "sec-fetch-site": "cross-site" })).status, 403);
    const own = await gc({ origin: `http://${host}` });
    assert.equal(own.status, 200, own.body);
    assert.match(own.body, /^gc: 0 checkpoints removed/);
    assert.equal((await gc({ "sec-fetch-site": "same-origin" })).status, 200);
  });

  it("with a token: 401 without it; Bearer, ?token= (then a cookie) and the cookie pass", async () => {
    const app = createDashboardApp({ store, token: "s3cret-token" });
    const guarded = createServer(getRequestListener(app.fetch));
    const at = await listen(guarded);
    try {
      const none = await send(`http://${at}/`);
      assert.equal(none.status, 401);
      assert.match(none.body, /needs its token/);
      assert.equal(
        (await send(`http://${at}/`, { headers: { authorization: "Bearer wrong" } })).status,
        401,
      );
      assert.equal(
        (await send(`http://${at}/metrics`, { headers: { authorization: "Bearer s3cret-token" } }))
          .status !== 401,
        true,
      );
      const opened = await send(`http://${at}/?token=s3cret-token`);
      assert.equal(opened.status, 303);
      assert.equal(opened.headers.location, "./", "the token leaves the address bar");
      const cookie = String(opened.headers["set-cookie"]).split(";")[0] ?? "";
      assert.match(String(opened.headers["set-cookie"]), /HttpOnly/i);
      assert.match(String(opened.headers["set-cookie"]), /SameSite=Strict/i);
      assert.equal((await send(`http://${at}/`, { headers: { cookie } })).status, 200);
      assert.equal((await send(`http://${at}/?token=s3cret-tokeN`)).status, 401);
    } finally {
      await new Promise((resolve) => guarded.close(resolve));
    }
  });

  it("startDashboard refuses to listen beyond loopback without a token", async () => {
    await assert.rejects(
      startDashboard({ store, host: "0.0.0.0", port: 0 }),
      (error: unknown) =>
        error instanceof InvalidOptionError &&
        /bound to 0\.0\.0\.0 .* give it a token/.test(error.message),
    );
    const open = await startDashboard({ store, host: "0.0.0.0", port: 0, token: "t0ken" });
    try {
      const port = new URL(open.url).port;
      assert.equal((await send(`http://127.0.0.1:${port}/`)).status, 401);
      assert.equal(
        (await send(`http://127.0.0.1:${port}/`, { headers: { authorization: "Bearer t0ken" } }))
          .status,
        200,
      );
    } finally {
      await open.close();
    }
  });

  it("mounts in Express under /waymark, as the example shows", async () => {
    const app = appWithDashboard(store, "ops.internal");
    const express = createServer(app);
    const at = await listen(express);
    try {
      assert.equal((await send(`http://${at}/health`)).body, '{"ok":true}');
      const page = await send(`http://${at}/waymark/`, { headers: { host: "ops.internal" } });
      assert.equal(page.status, 200);
      assert.match(page.body, /<td class="processor">mounted<\/td>/);
      assert.equal(
        (await send(`http://${at}/waymark/`, { headers: { host: "evil.example" } })).status,
        403,
      );
    } finally {
      await new Promise((resolve) => express.close(resolve));
    }
  });
});
