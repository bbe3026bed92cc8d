import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openStore } from "../../src/index.js";
import { CLI, waymark } from "./cli.js";

describe("waymark dashboard", () => {
  it("serves on 127.0.0.1, answers the page, and stops cleanly on SIGTERM", async () => {
    const dir = mkdtempSync(join(tmpdir(), "waymark-dash-cli-"));
    await (await openStore(`sqlite:${join(dir, "w.db")}`)).close();
    const child = spawn(
      process.execPath,
      [...CLI, "dashboard", "--port", "0", "--store", `sqlite:${join(dir, "w.db")}`],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    try {
      let stderr = "";
      const url = await new Promise<string>((resolve, reject) => {
        const deadline = setTimeout(
          () => reject(new Error(`no URL within 20 s: ${stderr}`)),
          20_000,
        );
        child.stderr.on("data", (d) => {
          stderr += d;
          const match = /on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stderr);
          if (match?.[1]) {
            clearTimeout(deadline);
            resolve(match[1]);
          }
        });
      });
      assert.match(stderr, /read-only/);
      const page = await fetch(url);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /No active checkpoints\./);
      assert.equal((await fetch(`${url}actions/gc`, { method: "POST" })).status, 403);
      const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
      child.kill("SIGTERM");
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a bad --port is a usage error", async () => {
    const out = await waymark(["dashboard", "--port", "http", "--store", "memory:"]);
    assert.equal(out.code, 2);
    assert.match(out.stderr, /--port "http"/);
  });
});
