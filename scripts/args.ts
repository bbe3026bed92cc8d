/** Command-line parsing the long-running scripts share. */

/** `text` as an integer of at least `min`; otherwise says which option is wrong and exits 2. */
export function positive(name: string, text: string, min = 1): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    console.error(`--${name} must be an integer from ${min} up, got ${JSON.stringify(text)}.`);
    process.exit(2);
  }
  return value;
}
