/**
 * A search hit's excerpt: about {@link EXCERPT_CHARS} characters of the message's text around the
 * first word of the `text` query it holds, each matched word marked `«…»`; the beginning of the
 * text when the query has no text term (or none is found in the text, e.g. it matched a header).
 */

/** About how many characters of text an excerpt shows. */
export const EXCERPT_CHARS = 200;

/** The words of a `text` query, lowercase, each a prefix when it ended in `*`; phrases split into their words. */
export function queryWords(text: string | undefined): Array<{ word: string; prefix: boolean }> {
  if (!text) return [];
  const out: Array<{ word: string; prefix: boolean }> = [];
  for (const m of text.matchAll(/"([^"]*)"(\*?)|([^\s"]+)/gu)) {
    const raw = m[1] ?? m[3] ?? '';
    const prefix = m[2] === '*' || raw.endsWith('*');
    for (const w of raw.replace(/\*+$/, '').toLowerCase().split(/[^\p{L}\p{N}]+/u)) if (w) out.push({ word: w, prefix });
  }
  return out;
}

/** The text a hit shows: the text body, or the HTML body without its tags when there is none. */
export function plainText(textBody: string, htmlBody: string): string {
  const text = textBody.trim() !== '' ? textBody : htmlBody.replace(/<(script|style)[\s\S]*?<\/\1>/giu, ' ').replace(/<[^>]*>/gu, ' ').replace(/&nbsp;/gu, ' ');
  return text.replace(/\s+/gu, ' ').trim();
}

/** Where a query word occurs in `lower` (a word's beginning; its end too unless a prefix). */
function wordPattern(words: Array<{ word: string; prefix: boolean }>): RegExp | null {
  if (words.length === 0) return null;
  const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&');
  const alts = words.map((w) => `${esc(w.word)}${w.prefix ? '[\\p{L}\\p{N}]*' : ''}`);
  return new RegExp(`(?<![\\p{L}\\p{N}])(?:${alts.join('|')})(?![\\p{L}\\p{N}])`, 'giu');
}

/** The excerpt of `text` for the query words `words` (see the module comment). */
export function excerpt(text: string, words: Array<{ word: string; prefix: boolean }>): string {
  const pattern = wordPattern(words);
  const first = pattern ? pattern.exec(text) : null;
  if (!pattern || !first) return text.length > EXCERPT_CHARS ? `${text.slice(0, EXCERPT_CHARS).trimEnd()}…` : text;
  // The match a third of the way in: some context before it, more after.
  let start = Math.max(0, first.index - Math.floor(EXCERPT_CHARS / 3));
  let end = Math.min(text.length, start + EXCERPT_CHARS);
  start = Math.max(0, end - EXCERPT_CHARS);
  // Not in the middle of a word at either end.
  if (start > 0) start = text.indexOf(' ', start) + 1 || start;
  if (end < text.length) end = text.lastIndexOf(' ', end) > first.index ? text.lastIndexOf(' ', end) : end;
  const window = text.slice(start, end).replace(pattern, (w) => `«${w}»`);
  return `${start > 0 ? '…' : ''}${window}${end < text.length ? '…' : ''}`;
}
