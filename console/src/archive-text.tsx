/**
 * How the Archive page writes what the API gives: sizes, addresses, and a hit's excerpt with the
 * matched words highlighted. The excerpt is mail text: it is rendered as text nodes only (never
 * as HTML); the API marks each matched word «…», and since mail text may hold such quotes of its
 * own (Russian does), only a marked piece that is one of the query's words is highlighted.
 */
import type { Address } from './api-archive.js';
import { s } from './archive-strings.js';
import { num } from './i18n.js';

/** A size in bytes, KB or MB in the chosen language. */
export function sizeText(bytes: number): string {
  if (bytes < 1024) return `${num(bytes)} ${s('bytes')}`;
  if (bytes < 1024 * 1024) return `${num(bytes / 1024, 1)} ${s('kb')}`;
  return `${num(bytes / (1024 * 1024), 1)} ${s('mb')}`;
}

/** An address as mail writes it: `Name <address>`, or the address alone. */
export function addressText(a: Address): string {
  return a.name ? `${a.name} <${a.address}>` : a.address;
}

/** Field names whose values are not words of the text (dates, has:, connection:). */
const NOT_TEXT = /^(has|before|after|connection):/iu;

/**
 * The words of a query that an excerpt marks, lowercase, each a prefix when it ended in `*` (as
 * the API marks them): text terms, a field's name taken off (from:alice marks alice); not the
 * operators, a negated term or a date.
 */
export function queryWords(text: string): Array<{ word: string; prefix: boolean }> {
  const out: Array<{ word: string; prefix: boolean }> = [];
  for (const m of text.matchAll(/(-?)(?:([a-z]+):)?(?:"([^"]*)"(\*?)|([^\s"()]+))/giu)) {
    if (m[1] === '-' || (m[2] && NOT_TEXT.test(`${m[2]}:`))) continue;
    const raw = m[3] ?? m[5] ?? '';
    if (m[3] === undefined && /^(AND|OR|NOT)$/u.test(raw)) continue;
    const prefix = m[4] === '*' || raw.endsWith('*');
    for (const w of raw.replace(/\*+$/, '').toLowerCase().split(/[^\p{L}\p{N}]+/u)) if (w) out.push({ word: w, prefix });
  }
  return out;
}

/** Whether `piece` (a marked piece of an excerpt) is one of the query's words. */
function matches(piece: string, words: Array<{ word: string; prefix: boolean }>): boolean {
  const p = piece.toLowerCase();
  return words.some((w) => (w.prefix ? p.startsWith(w.word) : p === w.word));
}

/** An excerpt as text, each marked query word in `<mark>`. */
export function Excerpt(props: { text: string; query: string }) {
  const words = queryWords(props.query);
  const parts: Array<string | { mark: string }> = [];
  let last = 0;
  for (const m of props.text.matchAll(/«([^«»]+)»/gu)) {
    const piece = m[1] ?? '';
    if (!matches(piece, words)) continue;
    parts.push(props.text.slice(last, m.index), { mark: piece });
    last = m.index + m[0].length;
  }
  parts.push(props.text.slice(last));
  return (
    <p class="excerpt">
      {parts.map((p, i) => (typeof p === 'string' ? p : <mark key={i}>{p.mark}</mark>))}
    </p>
  );
}
