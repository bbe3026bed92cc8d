/** One player's box score on one game date, generated from the date so runs agree. */
export interface PlayerLine {
  /** 1…450: the cursor. */
  readonly id: number;
  readonly minutes: number;
  readonly points: number;
  readonly rebounds: number;
  readonly assists: number;
}

/** The 450 players who played on `gameDate`, ascending by id. Deterministic per date. */
export function playersOn(gameDate: string, count = 450): PlayerLine[] {
  let seed = [...gameDate].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261);
  const random = () => {
    // mulberry32
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: count }, (_, i) => {
    const minutes = Math.floor(random() * 40) + 1;
    return {
      id: i + 1,
      minutes,
      points: Math.floor(random() * minutes * 1.2),
      rebounds: Math.floor(random() * minutes * 0.4),
      assists: Math.floor(random() * minutes * 0.3),
    };
  });
}
