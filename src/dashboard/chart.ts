import type { RunRecord } from "../core/store/checkpoint-store.js";

const DAY = 86_400_000;

/** Entities saved by resumes per day, oldest first, for the chart of work saved over time. */
export interface SavedPerDay {
  /** Start of the day (UTC), epoch ms. */
  readonly day: number;
  readonly entitiesSaved: number;
}

/** Buckets `resumedFrom` of resumed runs by the UTC day they started, over `days` days to `now`. */
export function savedPerDay(runs: readonly RunRecord[], now: number, days: number): SavedPerDay[] {
  const first = Math.floor(now / DAY) * DAY - (days - 1) * DAY;
  const buckets = Array.from({ length: days }, (_, i) => ({
    day: first + i * DAY,
    entitiesSaved: 0,
  }));
  for (const run of runs) {
    if (!run.resumedFrom) continue;
    const index = Math.floor((run.startedAt - first) / DAY);
    const bucket = buckets[index];
    if (bucket) bucket.entitiesSaved += run.resumedFrom;
  }
  return buckets;
}

/**
 * An inline SVG bar chart of entities saved per day. Only numbers and ISO dates go into
 * the markup, so there is nothing to escape.
 */
export function savedChartSvg(data: readonly SavedPerDay[]): string {
  const width = 560;
  const height = 140;
  const pad = 24;
  const max = Math.max(1, ...data.map((d) => d.entitiesSaved));
  const slot = (width - pad) / Math.max(1, data.length);
  const bars = data.map((d, i) => {
    const h = Math.round(((height - pad) * d.entitiesSaved) / max);
    const x = Math.round(pad + i * slot + slot * 0.15);
    const label = new Date(d.day).toISOString().slice(5, 10);
    return (
      `<g><title>${label}: ${d.entitiesSaved} entities saved</title>` +
      `<rect x="${x}" y="${height - pad - h}" width="${Math.max(1, Math.round(slot * 0.7))}" ` +
      `height="${h}" fill="#3b82f6"/>` +
      `<text x="${x}" y="${height - 8}" font-size="9" fill="#555">${label}</text></g>`
    );
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Entities saved by resumes per day" ` +
    `width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<text x="0" y="12" font-size="10" fill="#555">${max}</text>` +
    `<line x1="${pad}" y1="${height - pad}" x2="${width}" y2="${height - pad}" stroke="#999"/>` +
    `${bars.join("")}</svg>`
  );
}
