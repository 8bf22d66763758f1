// Text from the state shown in a terminal: names, users and messages come from what users
// wrote, so control characters (escape sequences, newlines that would draw fake rows) and
// bidirectional overrides are replaced before any table or line holds them.

// C0 and C1 controls, DEL, and the bidi embeddings, overrides and isolates (U+202A-202E, U+2066-2069).
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every control or bidi-override character replaced by `?`. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, '?');
}
