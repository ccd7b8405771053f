/**
 * The search language's tree (core/search/query-language.ts, docs/search.md) as SQL on
 * PostgreSQL: text terms become `tsquery` values matched against `message_search.doc`
 * (postgres-search-rows.ts says how its lexemes and weights tell the fields apart), passed as
 * parameters built from the same words the row was (`indexWords`), so nothing the user typed is
 * tsquery syntax. It asserts what store-sqlite/fts-translate.ts does: a bare word also by its
 * stem (`~stem`), a phrase or `prefix*` and field terms exactly, a whole address in an address
 * field by its token, text terms side by side in one tsquery, negations, dates and `connection:`
 * in SQL, a merged journal report's text counting for its primary. Conditions are written with
 * `?` for their parameters; {@link numbered} turns them into `$n`.
 */
import type { QueryNode, TextField } from '../../core/search/query-language.js';
import { addressToken, indexWords, isWholeAddress } from '../../core/search/index-terms.js';
import { stemWord } from '../stem-node/word-forms.js';
import { ATTACHMENT_LEXEME, LEXEME, quoteLexeme } from './postgres-search-rows.js';

/** A condition with its parameters, in order. */
export interface SqlCondition {
  sql: string;
  args: unknown[];
}

/** A field's lexemes: their prefix and the weights they may carry ('' any). */
const FIELD: Readonly<Record<TextField, { prefix: string; weights: string }>> = {
  any: { prefix: '', weights: '' },
  subject: { prefix: '', weights: LEXEME.subject.weight },
  attachment: { prefix: '', weights: LEXEME.attachment.weight },
  from: { prefix: LEXEME.from.prefix, weights: '' },
  to: { prefix: LEXEME.to.prefix, weights: '' },
  cc: { prefix: LEXEME.cc.prefix, weights: '' },
  bcc: { prefix: LEXEME.bcc.prefix, weights: '' },
};

const ADDRESS_FIELDS: ReadonlySet<TextField> = new Set(['from', 'to', 'cc', 'bcc']);

/** The tsquery of one text term, or null when its value holds no word (it matches nothing). */
function textTerm(n: Extract<QueryNode, { kind: 'text' }>): string | null {
  const { prefix, weights } = FIELD[n.field];
  if (n.match === 'word' && ADDRESS_FIELDS.has(n.field) && isWholeAddress(n.value)) return quoteLexeme(prefix + addressToken(n.value));
  const words = indexWords(n.value);
  if (words.length === 0) return null;
  const last = words.length - 1;
  const exact = words
    .map((w, i) => {
      const star = n.match === 'prefix' && i === last ? '*' : '';
      return `${quoteLexeme(prefix + w)}${star || weights ? `:${star}${weights}` : ''}`;
    })
    .join(' <-> ');
  if (n.match !== 'word' || n.field !== 'any') return words.length > 1 ? `(${exact})` : exact;
  const stem = stemWord(n.value);
  return stem === null || stem === '' ? exact : `(${exact} | ${quoteLexeme(LEXEME.stem.prefix + stem)})`;
}

/** The tsquery of `n` when every leaf under it is a text term or `has:attachment` and it holds no negation; else null. */
function tsOf(n: QueryNode): string | null {
  if (n.kind === 'text') return textTerm(n);
  if (n.kind === 'has-attachment') return quoteLexeme(ATTACHMENT_LEXEME);
  if (n.kind !== 'and' && n.kind !== 'or') return null;
  const parts: string[] = [];
  for (const c of n.children) {
    const t = tsOf(c);
    if (t === null) return null;
    parts.push(t);
  }
  return `(${parts.join(n.kind === 'and' ? ' & ' : ' | ')})`;
}

/**
 * The messages a tsquery finds, as a condition on the row `m`. When journal reports are merged
 * (`merges`), a merged report's match lists its primary: the set of matches mapped to their
 * primaries; else the row's own index row, looked up by its key (cheap per row, so a negation
 * checked on a common word's matches costs a lookup each, not a set of every match of its own).
 */
export function matchCondition(tsquery: string, merges: boolean): SqlCondition {
  return merges
    ? { sql: 'm.id IN (SELECT coalesce(h.merged_into, h.id) FROM message_search f JOIN messages h ON h.id = f.id WHERE f.doc @@ ?::tsquery)', args: [tsquery] }
    : { sql: 'EXISTS (SELECT 1 FROM message_search f WHERE f.id = m.id AND f.doc @@ ?::tsquery)', args: [tsquery] };
}

/** The condition `n` puts on the `messages` row `m`; `merges`: whether any journal report is merged into another. */
export function translateQuery(n: QueryNode, merges: boolean): SqlCondition {
  switch (n.kind) {
    case 'text': {
      const t = textTerm(n);
      return t === null ? { sql: 'false', args: [] } : matchCondition(t, merges);
    }
    case 'not': {
      const inner = translateQuery(n.child, merges);
      return { sql: `NOT (${inner.sql})`, args: inner.args };
    }
    // A message without a date is neither before nor after any: false, also under NOT's complement (true).
    case 'date':
      return { sql: `(m.date IS NOT NULL AND m.date ${n.op === 'after' ? '>=' : '<'} ?)`, args: [n.at] };
    case 'has-attachment':
      return { sql: 'coalesce(m.has_attachments, false)', args: [] };
    case 'connection':
      return { sql: 'm.connection = ?', args: [n.name] };
    case 'and':
    case 'or':
      return group(n, merges);
  }
}

/** AND / OR: the children one tsquery can take together, the others in SQL beside it. */
function group(n: Extract<QueryNode, { kind: 'and' | 'or' }>, merges: boolean): SqlCondition {
  const whole = tsOf(n);
  if (whole !== null) return matchCondition(whole, merges);
  const ts: string[] = [];
  const parts: SqlCondition[] = [];
  for (const c of n.children) {
    const t = tsOf(c);
    if (t !== null) ts.push(t);
    else parts.push(translateQuery(c, merges));
  }
  if (ts.length > 0) parts.unshift(matchCondition(ts.length === 1 ? ts[0]! : `(${ts.join(n.kind === 'and' ? ' & ' : ' | ')})`, merges));
  return { sql: `(${parts.map((p) => p.sql).join(n.kind === 'and' ? ' AND ' : ' OR ')})`, args: parts.flatMap((p) => p.args) };
}

/**
 * A query split for a search the index drives: `match`, the tsquery every hit's row holds, and
 * `rest`, what else the row must satisfy (null when nothing); null when no tsquery holds for every
 * hit (an OR with a non-text side, a negation alone, only dates or flags).
 */
export function tsDriven(node: QueryNode, merges: boolean): { match: string; rest: SqlCondition | null } | null {
  const whole = tsOf(node);
  if (whole !== null) return { match: whole, rest: null };
  if (node.kind !== 'and') return null;
  const ts: string[] = [];
  const rest: SqlCondition[] = [];
  for (const c of node.children) {
    const t = tsOf(c);
    if (t !== null) ts.push(t);
    else rest.push(translateQuery(c, merges));
  }
  if (ts.length === 0) return null;
  return {
    match: ts.length === 1 ? ts[0]! : `(${ts.join(' & ')})`,
    rest: rest.length === 0 ? null : { sql: rest.map((p) => `(${p.sql})`).join(' AND '), args: rest.flatMap((p) => p.args) },
  };
}

/** `sql` with its `?` placeholders numbered `$1`, `$2`… (no `?` appears in it otherwise). */
export function numbered(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}
