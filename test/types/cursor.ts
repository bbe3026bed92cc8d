// Compile-time checks of the cursor type (see store-tx.ts for how these run).
import { defineProcessor, type EntitiesArgs, type SqliteTx } from "../../src/index.js";

interface Player {
  id: number;
  points: number;
}
interface Game {
  slug: string;
  at: number;
}
declare const players: Player[];
declare const games: Game[];

// Numeric ids give a numeric cursor: `p.id > after` compiles without a cast.
export const numeric = defineProcessor<Player, undefined, SqliteTx>({
  name: "numeric",
  entities: ({ after }) => players.filter((p) => after === null || p.id > after),
  id: (p) => p.id,
  lookup: (ids) => players.filter((p) => ids.includes(p.id)),
  processBatch() {},
});

// Without type arguments, the cursor is inferred from a typed `id`.
export const inferred = defineProcessor({
  name: "inferred",
  id: (g: Game) => g.slug,
  entities: ({ after }) => games.filter((g) => after === null || g.slug > after.trim()),
  processBatch() {},
});

// A string id given as the fourth type argument.
export const bySlug = defineProcessor<Game, undefined, unknown, string>({
  name: "by-slug",
  entities: ({ after }) => games.filter((g) => after === null || g.slug > after),
  id: (g) => g.slug,
  processBatch() {},
});

export const numericAfter = (args: EntitiesArgs<number>) => {
  const after: number | null = args.after;
  // @ts-expect-error a numeric cursor is no string
  const wrong: string | null = args.after;
  return [after, wrong];
};

defineProcessor<Player>({
  name: "string-compare",
  // @ts-expect-error `after` is a number | null here, not a string
  entities: ({ after }) => players.filter((p) => after === null || String(p.id) > after.trim()),
  id: (p) => p.id,
  processBatch() {},
});

defineProcessor<Player>({
  name: "wrong-id",
  entities: () => players,
  // @ts-expect-error the entity's id is a number: id() must return the cursor type
  id: (p) => String(p.id),
  processBatch() {},
});

defineProcessor<Game>({
  name: "other-key",
  entities: () => games,
  // Game has no `id` property: any cursor is accepted.
  id: (g) => g.slug,
  processBatch() {},
});

defineProcessor<Player>({
  name: "lookup",
  entities: () => players,
  id: (p) => p.id,
  // @ts-expect-error lookup receives numeric ids
  lookup: (ids: string[]) => players.filter((p) => ids.includes(String(p.id))),
  processBatch() {},
});

// Entities that are numbers (or strings) are their own cursor.
export const plainNumbers = defineProcessor<number>({
  name: "plain-numbers",
  entities: ({ after }) => [1, 2, 3].filter((n) => after === null || n > after),
  id: (n) => n,
  processBatch() {},
});
