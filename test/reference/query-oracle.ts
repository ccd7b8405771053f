/**
 * The search language evaluated by brute force over a message's texts: the reference the SQLite
 * translation is held to (the e2e search test) and the in-memory store's search. Words as FTS5's
 * `unicode61 remove_diacritics 2` cuts them (letters and digits, case folded, Latin diacritics
 * dropped); a phrase is its words in a row within one field; a bare word also matches its stem
 * among the stems of subject, body and attachment names (stem-node/word-forms.ts, the same functions the
 * index uses). A whole address in an address field (`from:a@b.example`) is that address exactly
 * (its token, core/search/index-terms.ts). Text terms side by side under one AND or OR are matched within one index row, as
 * one FTS5 MATCH is: a message's rows are its own and those of the journal reports merged into it.
 */
import type { QueryNode, TextField } from '../../src/core/search/query-language.js';
import { stemText, stemWord } from '../../src/adapters/stem-node/word-forms.js';
import { addressesIn, addressToken, isWholeAddress } from '../../src/core/search/index-terms.js';

/** One index row's texts, as `IndexEntry` has them. */
export interface OracleRow {
  subject: string;
  from: string;
  to: string;
  cc: string;
  bcc: string;
  body: string;
  attachmentNames: string;
}

/** One message as the language sees it. */
export interface OracleMessage {
  connection: string;
  /** ISO 8601, or null. */
  date: string | null;
  hasAttachments: boolean;
  /** Its own row and those of reports merged into it; none when not parsed. */
  rows: OracleRow[];
}

/** The words of `text` as the index keeps them. */
export function ftsTokens(text: string): string[] {
  const folded = text
    .toLowerCase()
    .normalize('NFD')
    .replace(/(\p{Script=Latin})\p{M}+/gu, '$1')
    .normalize('NFC');
  return folded.match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** Whether `words` occur in a row of `doc`, the last one a prefix when `prefix`. */
function hasPhrase(doc: string[], words: string[], prefix: boolean): boolean {
  if (words.length === 0) return false;
  for (let i = 0; i + words.length <= doc.length; i++) {
    if (words.every((w, j) => (prefix && j === words.length - 1 ? doc[i + j]!.startsWith(w) : doc[i + j] === w))) return true;
  }
  return false;
}

const FIELDS: Readonly<Record<TextField, ReadonlyArray<keyof OracleRow>>> = {
  any: ['subject', 'from', 'to', 'cc', 'bcc', 'body', 'attachmentNames'],
  from: ['from'],
  to: ['to'],
  cc: ['cc'],
  bcc: ['bcc'],
  subject: ['subject'],
  attachment: ['attachmentNames'],
};

function textInRow(n: Extract<QueryNode, { kind: 'text' }>, row: OracleRow): boolean {
  // A whole address in an address field: that address exactly, not its words in a row.
  if (n.match === 'word' && (n.field === 'from' || n.field === 'to' || n.field === 'cc' || n.field === 'bcc') && isWholeAddress(n.value)) {
    // Each address folded as the index folds its token (core/search/index-terms.ts, the writer's own functions).
    return addressesIn(row[n.field]).flatMap((a) => ftsTokens(addressToken(a))).includes(ftsTokens(addressToken(n.value))[0]!);
  }
  const words = ftsTokens(n.value);
  if (FIELDS[n.field].some((f) => hasPhrase(ftsTokens(row[f]), words, n.match === 'prefix'))) return true;
  if (n.field !== 'any' || n.match !== 'word') return false;
  const stem = stemWord(n.value);
  return stem !== null && stem !== '' && hasPhrase(ftsTokens(stemText(`${row.subject}\n${row.body}\n${row.attachmentNames}`)), ftsTokens(stem), false);
}

/** Whether every leaf of `n` is a text term and it holds no negation (what one MATCH takes). */
function textOnly(n: QueryNode): boolean {
  return n.kind === 'text' || ((n.kind === 'and' || n.kind === 'or') && n.children.every(textOnly));
}

function inRow(n: QueryNode, row: OracleRow): boolean {
  if (n.kind === 'text') return textInRow(n, row);
  if (n.kind === 'and') return n.children.every((c) => inRow(c, row));
  if (n.kind === 'or') return n.children.some((c) => inRow(c, row));
  return false;
}

/** Whether message `m` matches `n`. */
export function matchesQuery(n: QueryNode, m: OracleMessage): boolean {
  if (textOnly(n)) return m.rows.some((r) => inRow(n, r));
  switch (n.kind) {
    case 'not':
      return !matchesQuery(n.child, m);
    case 'date':
      return m.date !== null && (n.op === 'after' ? m.date >= n.at : m.date < n.at);
    case 'has-attachment':
      return m.hasAttachments;
    case 'connection':
      return m.connection === n.name;
    case 'and':
    case 'or': {
      // The text children together in one row (one MATCH), the others on their own.
      const text = n.children.filter(textOnly);
      const rest = n.children.filter((c) => !textOnly(c));
      const group: QueryNode | null = text.length === 0 ? null : { kind: n.kind, children: text };
      const results = [...(group ? [matchesQuery(group, m)] : []), ...rest.map((c) => matchesQuery(c, m))];
      return n.kind === 'and' ? results.every(Boolean) : results.some(Boolean);
    }
    default:
      return false;
  }
}
