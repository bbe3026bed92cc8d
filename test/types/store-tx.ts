// Compile-time checks, run by `npm run test:types` (tsc only; nothing here is executed). Each
// `@ts-expect-error` marks a mistake the types must refuse: if one ever compiles, tsc fails on
// the unused directive. The lines without it must keep compiling.
import {
  type AnyStore,
  defineProcessor,
  type MemoryStore,
  type MemoryTx,
  openStore,
  type PgTx,
  type PostgresStore,
  redrive,
  run,
  runPartitions,
  SqliteStore,
  type SqliteTx,
} from "../../src/index.js";
import { workPartitions } from "../../src/integrations/pg-boss.js";

interface Player {
  id: number;
  points: number;
}
declare const players: Player[];
declare const boss: Parameters<typeof workPartitions>[0];

const onSqlite = defineProcessor<Player, undefined, SqliteTx>({
  name: "on-sqlite",
  entities: () => players,
  id: (p) => p.id,
  processBatch(batch, ctx) {
    for (const p of batch) ctx.tx.run("INSERT INTO t VALUES (?, ?)", p.id, p.points);
  },
});
const onPostgres = defineProcessor<Player, undefined, PgTx>({
  name: "on-postgres",
  entities: () => players,
  id: (p) => p.id,
  async processBatch(batch, ctx) {
    for (const p of batch) await ctx.tx.query("INSERT INTO t VALUES ($1, $2)", [p.id, p.points]);
  },
});
const onMemory = defineProcessor<Player, undefined, MemoryTx>({
  name: "on-memory",
  entities: () => players,
  id: (p) => p.id,
  processBatch(_batch, ctx) {
    ctx.tx.run(() => {});
  },
});
const anywhere = defineProcessor<Player>({
  name: "anywhere",
  entities: () => players,
  id: (p) => p.id,
  processBatch() {},
});
const sqliteOrPostgres = defineProcessor<Player, undefined, SqliteTx | PgTx>({
  name: "either",
  entities: () => players,
  id: (p) => p.id,
  processBatch() {},
});

export async function storesGiveTheirTx(): Promise<void> {
  // openStore types its result by the URL's scheme.
  const sqlite: SqliteStore = await openStore("sqlite:.waymark/waymark.db");
  const postgres: PostgresStore = await openStore("postgres://app@db/app");
  const postgresql: PostgresStore = await openStore("postgresql://app@db/app");
  const memory: MemoryStore = await openStore("memory:");
  const fromEnv: AnyStore = await openStore(process.env.WAYMARK_STORE ?? "memory:");
  // @ts-expect-error a URL known only at run time may be any store
  const notNarrowed: SqliteStore = await openStore(process.env.WAYMARK_STORE ?? "memory:");

  await run(onSqlite, { store: sqlite });
  await run(onPostgres, { store: postgres });
  await run(onPostgres, { store: postgresql });
  await run(onMemory, { store: memory });
  await run(sqliteOrPostgres, { store: sqlite });
  await run(sqliteOrPostgres, { store: postgres });
  // A processor that never touches ctx.tx runs on every store, a union included.
  await run(anywhere, { store: sqlite });
  await run(anywhere, { store: memory });
  await run(anywhere, { store: fromEnv });

  // @ts-expect-error ctx.tx.query would not exist: SqliteStore gives SqliteTx, not PgTx
  await run(onPostgres, { store: sqlite });
  // @ts-expect-error PostgresStore gives PgTx, not SqliteTx
  await run(onSqlite, { store: postgres });
  // @ts-expect-error MemoryStore gives MemoryTx
  await run(onSqlite, { store: memory });
  // @ts-expect-error MemoryStore gives MemoryTx, not SqliteTx or PgTx
  await run(sqliteOrPostgres, { store: memory });
  // @ts-expect-error the store could be a MemoryStore or a PostgresStore
  await run(onSqlite, { store: fromEnv });

  // Narrowing makes it compile.
  if (fromEnv instanceof SqliteStore) await run(onSqlite, { store: fromEnv });
  if (fromEnv.kind === "postgres") await run(onPostgres, { store: fromEnv });

  // The same rule for every entry point.
  // @ts-expect-error redrive: SqliteStore gives SqliteTx, not PgTx
  await redrive(onPostgres, { store: sqlite });
  await redrive(onPostgres, { store: postgres });
  // @ts-expect-error runPartitions: SqliteStore gives SqliteTx, not PgTx
  await runPartitions(onPostgres, { store: sqlite, partitions: ["2024-01-15"] });
  await runPartitions(onPostgres, { store: postgres, partitions: ["2024-01-15"] });
  // @ts-expect-error workPartitions: SqliteStore gives SqliteTx, not PgTx
  await workPartitions(boss, onPostgres, { store: sqlite });
  await workPartitions(boss, onPostgres, { store: postgres });

  // A read-only store is for reports, not for runs.
  const reports = await openStore("sqlite:.waymark/waymark.db", { readOnly: true });
  // @ts-expect-error a read-only store has no run side
  await run(anywhere, { store: reports });
  void notNarrowed;
}
