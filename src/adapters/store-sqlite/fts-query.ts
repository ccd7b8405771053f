/**
 * The `search` query language, translated into FTS5's before FTS5 sees it: words and "quoted
 * phrases", all of which must occur; a word (or phrase) ending in `*` matches as a prefix. Every
 * term reaches FTS5 as a quoted string, so nothing the operator types is FTS5 syntax (`OR`,
 * `NEAR`, `-`, `:` are words); what cannot be translated (an unclosed quote, an empty phrase, a
 * lone `*`) is a `SEARCH_QUERY_INVALID` error naming the character where it is.
 */
import { MailsluiceError } from '../../core/errors/index.js';

/** Shows at most this much of the query around a problem. */
const EXCERPT = 24;

function invalid(text: string, at: number, problem: string, fix: string): MailsluiceError {
  const shown = text.length - at > EXCERPT ? `${text.slice(at, at + EXCERPT)}…` : text.slice(at);
  // Characters counted as the operator sees them (code points, from 1), not UTF-16 units.
  const column = [...text.slice(0, at)].length + 1;
  return new MailsluiceError('SEARCH_QUERY_INVALID', `search query: ${problem} at character ${column} (${shown}); ${fix}`, { details: { column } });
}

const quote = (s: string): string => `"${s.replace(/"/g, '""')}"`;

/**
 * The FTS5 MATCH expression for `text`, or `null` when it holds no term.
 *
 * @throws MailsluiceError `SEARCH_QUERY_INVALID` naming the problem and where it is.
 */
export function toFtsQuery(text: string): string | null {
  const terms: string[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (/\s/u.test(ch)) {
      i++;
      continue;
    }
    if (ch === '"') {
      const close = text.indexOf('"', i + 1);
      if (close < 0) throw invalid(text, i, 'a quote opens a phrase that is never closed', 'close the phrase with a second " or remove the quote');
      const phrase = text.slice(i + 1, close);
      if (phrase.trim() === '') throw invalid(text, i, 'an empty phrase', 'put words between the quotes or remove them');
      const prefix = text[close + 1] === '*';
      terms.push(quote(phrase) + (prefix ? '*' : ''));
      i = close + (prefix ? 2 : 1);
      continue;
    }
    let end = i;
    while (end < text.length && text[end] !== '"' && !/\s/u.test(text[end]!)) end++;
    const word = text.slice(i, end);
    const stem = word.replace(/\*+$/, '');
    if (stem === '') throw invalid(text, i, 'a * on its own', 'write it at the end of a word to match every word that begins so (invoi*)');
    terms.push(quote(stem) + (stem !== word ? '*' : ''));
    i = end;
  }
  return terms.length > 0 ? terms.join(' ') : null;
}
