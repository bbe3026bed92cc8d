import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../examples/train-model/main.ts", import.meta.url));

interface Output {
  status: string;
  resumedFrom: number | null;
  processed: number;
  weightsHex: string | null;
}

/** Runs the training example in a child process on `db`. */
function train(
  db: string,
  killAt?: string,
): Promise<{ signal: string | null; out: Output | null }> {
  const args = ["--import", "tsx", MAIN, "--store", db, "--quiet"];
  if (killAt) args.push("--kill-at", killAt);
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    proc.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    proc.on("error", reject);
    proc.on("close", (_code, signal) =>
      resolve({ signal, out: stdout.trim() ? (JSON.parse(stdout) as Output) : null }),
    );
  });
}

describe("examples/train-model", () => {
  let dir: string;
  let reference: Output;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "waymark-train-"));
    const { out } = await train(join(dir, "reference.db"));
    assert.ok(out);
    reference = out;
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("trains every game in one uninterrupted run", () => {
    assert.equal(reference.status, "completed");
    assert.equal(reference.processed, 4000);
    assert.equal(reference.weightsHex?.length, 31 * 8 * 2);
  });

  it("ends bit-identical to the uninterrupted run when SIGKILLed anywhere and resumed", async () => {
    const points = [
      "1:before-put",
      "9:during-put",
      "17:during-put",
      "28:after-put",
      "40:after-put",
    ];
    const outcomes = await Promise.all(
      points.map(async (point, i) => {
        const db = join(dir, `killed-${i}.db`);
        const killed = await train(db, point);
        assert.equal(killed.signal, "SIGKILL", `${point}: the child killed itself`);
        const resumed = await train(db);
        return { point, ...resumed.out };
      }),
    );
    for (const outcome of outcomes) {
      const batch = Number(outcome.point.split(":")[0]);
      assert.equal(outcome.status, "completed", outcome.point);
      assert.equal(outcome.resumedFrom, batch === 1 ? null : (batch - 1) * 100, outcome.point);
      assert.equal(outcome.weightsHex, reference.weightsHex, `${outcome.point}: same bits`);
    }
  });
});
