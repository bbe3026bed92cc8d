/** `a x2, b x5`: counted outcomes for a summary line, sorted by name. */
export function counts(map: ReadonlyMap<string, number>): string {
  return [...map]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, n]) => `${k} x${n}`)
    .join(", ");
}
