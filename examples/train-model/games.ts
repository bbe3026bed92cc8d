/**
 * A deterministic season of games: the same seed always gives the same games, bit for bit,
 * so no data is downloaded and every run trains on identical input.
 */

/** One game: the home team's winning margin (negative when it lost). */
export interface Game {
  /** 1, 2, 3, …: the cursor. */
  readonly id: number;
  readonly home: number;
  readonly away: number;
  readonly margin: number;
}

/** mulberry32: a tiny, well-known 32-bit PRNG. Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `count` games between `teams` teams whose hidden strengths come from the seed; a margin is
 * strength difference plus home advantage plus normal noise (Box-Muller).
 */
export function generateGames(seed: number, count: number, teams: number): Game[] {
  const random = mulberry32(seed);
  const strength = Array.from({ length: teams }, () => (random() - 0.5) * 20);
  const homeAdvantage = 3;
  const games: Game[] = [];
  for (let id = 1; id <= count; id++) {
    const home = Math.floor(random() * teams);
    const away = (home + 1 + Math.floor(random() * (teams - 1))) % teams;
    const noise = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const margin = Math.round(
      homeAdvantage + (strength[home] ?? 0) - (strength[away] ?? 0) + 8 * noise,
    );
    games.push({ id, home, away, margin });
  }
  return games;
}
