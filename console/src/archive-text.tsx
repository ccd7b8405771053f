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

/** The words of a full-text query, lowercase, each a prefix when it ended in `*` (as the API splits them). */
export function queryWords(text: string): Array<{ word: string; prefix: boolean }> {
  const out: Array<{ word: string; prefix: boolean }> = [];
  for (const m of text.matchAll(/"([^"]*)"(\*?)|([^\s"]+)/gu)) {
    const raw = m[1] ?? m[3] ?? '';
    const prefix = m[2] === '*' || raw.endsWith('*');
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
