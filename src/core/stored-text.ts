/**
 * Text from user code on its way into a store. Two characters cannot be stored as they are:
 * NUL, which PostgreSQL refuses in text (22021), and an unpaired UTF-16 surrogate, which the
 * SQLite and PostgreSQL drivers silently replace with U+FFFD when they encode UTF-8. Free text
 * (an error message) is escaped; a value that must come back exactly (a fingerprint, a
 * partition, a name) is refused up front, the same on every store. Cursors need neither: they
 * are stored as JSON, which escapes both.
 */

const UNSTORABLE = /\0|\p{Cs}/gu;
const HAS_UNSTORABLE = /\0|\p{Cs}/u;

/** `text` with each NUL and unpaired surrogate written as its escape (`\u0000`, `\ud800`). */
export function storableText(text: string): string {
  return HAS_UNSTORABLE.test(text) ? text.replace(UNSTORABLE, escapeCharacter) : text;
}

/**
 * Why `text` cannot be stored exactly (`a NUL character at index 3`), or null when it can:
 * for the values a store must give back as they were.
 */
export function unstorableIn(text: string): string | null {
  const found = HAS_UNSTORABLE.exec(text);
  if (!found) return null;
  const what = found[0] === "\0" ? "a NUL character" : "an unpaired UTF-16 surrogate";
  return `${what} at index ${found.index}`;
}

function escapeCharacter(character: string): string {
  return `\\u${character.charCodeAt(0).toString(16).padStart(4, "0")}`;
}
