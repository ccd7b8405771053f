/**
 * Word forms for the full-text index (issue 17, item 3). The contract the index writer and the
 * query translation share; the Snowball implementation replaces these bodies (session 12, in
 * progress: until then no stems are indexed and a word matches its exact form only).
 */

/** The stems of every word of `text` (Russian and English), space-separated, for the index's stem column. */
export function stemText(text: string): string {
  void text;
  return '';
}

/** The stem a bare query word is matched by in the stem column, or null to match its exact form only. */
export function stemWord(word: string): string | null {
  void word;
  return null;
}
