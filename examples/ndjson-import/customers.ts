import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";

/** One line of the export: a customer, as the upstream system writes it. */
export const Customer = z.object({
  id: z.number().int().positive(),
  name: z.string(),
  email: z.string(),
  plan: z.enum(["free", "pro", "team"]),
  seats: z.number().int().nonnegative(),
});

/** A customer, as `Customer` decodes it. */
export type Customer = z.infer<typeof Customer>;

const PLANS = ["free", "pro", "team"] as const;

/** The customer on line `n` (1-based) of a generated export: the same for every run. */
export function customerAt(n: number): Customer {
  return {
    id: n,
    name: `Customer ${n}`,
    email: `customer${n}@example.com`,
    plan: PLANS[n % 3] as Customer["plan"],
    seats: (n * 7919) % 50,
  };
}

/** Writes an export of `lines` customers, one JSON object per line. */
export async function writeExport(path: string, lines: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const out = createWriteStream(path);
  let chunk = "";
  for (let n = 1; n <= lines; n++) {
    chunk += `${JSON.stringify(customerAt(n))}\n`;
    if (chunk.length >= 1 << 20 || n === lines) {
      if (!out.write(chunk)) await once(out, "drain");
      chunk = "";
    }
  }
  out.end();
  await once(out, "finish");
}
