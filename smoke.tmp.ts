import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { defineProcessor, fromFile, MemoryStore, run } from "./src/index.js";
const file = "/tmp/wb/customers.ndjson";
const N = 1_000_000;
if (!existsSync(file)) {
  const out = createWriteStream(file);
  let buf = "";
  for (let i = 1; i <= N; i++) {
    buf += `{"id":${i},"name":"customer-${i}","email":"c${i}@example.com","plan":"pro","seats":${i % 50}}\n`;
    if (buf.length > 1 << 20) { if (!out.write(buf)) await new Promise(r => out.once("drain", r)); buf = ""; }
  }
  out.end(buf);
  await new Promise(r => out.on("finish", r));
}
async function bare() {
  const t = performance.now();
  let n = 0;
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) { if (JSON.parse(line).seats >= 0) n++; }
  if (n !== N) throw new Error(String(n));
  return performance.now() - t;
}
async function source() {
  const p = defineProcessor({ name: "f", batchSize: 1000, ...fromFile(file), processBatch() {} });
  const t = performance.now();
  const r = await run(p, { store: new MemoryStore(), logger: false });
  if (r.processed !== N) throw new Error(String(r.processed));
  return performance.now() - t;
}
for (let i = 0; i < 3; i++) console.log("bare", (await bare()).toFixed(0), "source", (await source()).toFixed(0));
