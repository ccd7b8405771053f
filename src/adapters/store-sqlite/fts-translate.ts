/**
 * A parsed search query (core/search/query-language.ts) as one SQL condition over a `messages`
 * row, its text terms matched in `search.db`'s `messages_search` (FTS5, attached as `s`). Every
 * term reaches FTS5 as a quoted string, so nothing the user typed is FTS5 syntax; the tree's
 * operators become FTS5's AND/OR where every operand is a text term, and SQL's AND/OR/NOT
 * otherwise (a negation always in SQL: `NOT (m.id IN (…))`, so a message's merged journal
 * reports count for it alike in both directions).
 *
 * A bare word matches the exact columns or, when `stemWord` gives it a stem, that stem in the
 * `stems` column (word forms); a quoted phrase or a `prefix*` matches the exact columns only.
 */
import type { QueryNode, TextField } from '../../core/search/query-language.js';
import { stemWord } from '../stem-node/word-forms.js';
import { ADDRESS_TOKEN_VERSION, ATTACHMENT_MARK_VERSION, SEARCH_TABLE } from './fts-version.js';
import { addressToken, ATTACHMENT_MARK, isWholeAddress } from '../../core/search/index-terms.js';

/** A condition with its parameters, in order. */
export interface SqlCondition {
  sql: string;
  args: unknown[];
}

/** How the condition names things. */
export interface TranslateOptions {
  /** The alias of the `messages` row the condition is about (default `m`). */
  row?: string;
  /**
   * Whether `messages` has the journal columns: then a text match on a merged report's row
   * counts for the message it is merged into (its primary), as search lists the primary.
   */
  journal: boolean;
  /**
   * The version every row of the index is written at (fts-version.ts; the stored one, which a
   * re-index raises only once done); absent, none of the later versions' terms are used. From
   * version 3 `has:attachment` is an index term, from 4 a whole address is one token.
   */
  indexVersion?: number;
}

/** The columns a field's terms are looked for in. */
const COLUMNS: Readonly<Record<TextField, string>> = {
  any: '{subject sender to_rcpt cc_rcpt bcc_rcpt body attachments}',
  from: '{sender}',
  to: '{to_rcpt}',
  cc: '{cc_rcpt}',
  bcc: '{bcc_rcpt}',
  subject: '{subject}',
  attachment: '{attachments}',
};

/** `s` as an FTS5 string: the tokenizer splits it into its words, a phrase when several. */
const quote = (s: string): string => `"${s.replace(/"/gu, '""')}"`;

/** The address fields, whose whole addresses the index also holds as one token each. */
const ADDRESS_FIELDS: ReadonlySet<TextField> = new Set(['from', 'to', 'cc', 'bcc']);

/** What the index's version lets a query use. */
interface IndexTerms {
  /** `has:attachment` as {@link ATTACHMENT_MARK}. */
  attachmentMark: boolean;
  /** A whole address in an address field as its {@link addressToken}. */
  addressTokens: boolean;
}

function indexTerms(options: TranslateOptions): IndexTerms {
  const v = options.indexVersion ?? 0;
  return { attachmentMark: v >= ATTACHMENT_MARK_VERSION, addressTokens: v >= ADDRESS_TOKEN_VERSION };
}

/** The FTS5 expression of one text term. */
function textTerm(n: Extract<QueryNode, { kind: 'text' }>, terms: IndexTerms): string {
  const cols = COLUMNS[n.field];
  if (n.match === 'prefix') return `${cols} : ${quote(n.value)} *`;
  // That address exactly, one token's doclist (not its words in a row: those of a common domain are long).
  if (n.match === 'word' && terms.addressTokens && ADDRESS_FIELDS.has(n.field) && isWholeAddress(n.value)) return `${cols} : ${quote(addressToken(n.value))}`;
  const exact = `${cols} : ${quote(n.value)}`;
  if (n.match === 'phrase' || n.field !== 'any') return exact;
  const stem = stemWord(n.value);
  return stem === null || stem === '' || stem === ATTACHMENT_MARK ? exact : `(${exact} OR {stems} : ${quote(stem)})`;
}

/**
 * The FTS5 expression of `n` when every leaf under it is a text term (or `has:attachment`, when
 * the index marks attachments) and it holds no negation; else null.
 */
function ftsOf(n: QueryNode, terms: IndexTerms): string | null {
  if (n.kind === 'text') return textTerm(n, terms);
  if (n.kind === 'has-attachment') return terms.attachmentMark ? `{stems} : ${quote(ATTACHMENT_MARK)}` : null;
  if (n.kind !== 'and' && n.kind !== 'or') return null;
  const parts: string[] = [];
  for (const c of n.children) {
    const f = ftsOf(c, terms);
    if (f === null) return null;
    parts.push(f);
  }
  return `(${parts.join(n.kind === 'and' ? ' AND ' : ' OR ')})`;
}

/** Translates one tree; a class only to carry the options through the recursion. */
class Translator {
  private readonly row: string;
  private readonly terms: IndexTerms;
  constructor(private readonly options: TranslateOptions) {
    this.row = options.row ?? 'm';
    this.terms = indexTerms(options);
  }

  /** The messages a MATCH expression finds, as a condition on the row. */
  private match(expr: string): SqlCondition {
    const sub = this.options.journal
      ? `SELECT COALESCE(h.merged_into, h.id) FROM s.${SEARCH_TABLE} f JOIN messages h ON h.id = f.rowid WHERE f.${SEARCH_TABLE} MATCH ?`
      : `SELECT f.rowid FROM s.${SEARCH_TABLE} f WHERE f.${SEARCH_TABLE} MATCH ?`;
    return { sql: `${this.row}.id IN (${sub})`, args: [expr] };
  }

  node(n: QueryNode): SqlCondition {
    const r = this.row;
    switch (n.kind) {
      case 'text':
        return this.match(textTerm(n, this.terms));
      case 'not': {
        const inner = this.node(n.child);
        return { sql: `NOT (${inner.sql})`, args: inner.args };
      }
      // A message without a date is neither before nor after any: false, also under NOT's complement (true).
      case 'date':
        return { sql: `(${r}.date IS NOT NULL AND ${r}.date ${n.op === 'after' ? '>=' : '<'} ?)`, args: [n.at] };
      case 'has-attachment':
        return { sql: `COALESCE(${r}.has_attachments, 0) = 1`, args: [] };
      case 'connection':
        return { sql: `${r}.connection = ?`, args: [n.name] };
      case 'and':
      case 'or':
        return this.group(n);
    }
  }

  /** AND / OR: the children FTS5 can take together in one MATCH, the others in SQL beside it. */
  private group(n: Extract<QueryNode, { kind: 'and' | 'or' }>): SqlCondition {
    const whole = ftsOf(n, this.terms);
    if (whole !== null) return this.match(whole);
    const fts: string[] = [];
    const parts: SqlCondition[] = [];
    for (const c of n.children) {
      const f = ftsOf(c, this.terms);
      if (f !== null) fts.push(f);
      else parts.push(this.node(c));
    }
    if (fts.length > 0) parts.unshift(this.match(fts.length === 1 ? fts[0]! : `(${fts.join(n.kind === 'and' ? ' AND ' : ' OR ')})`));
    return { sql: `(${parts.map((p) => p.sql).join(n.kind === 'and' ? ' AND ' : ' OR ')})`, args: parts.flatMap((p) => p.args) };
  }
}

/**
 * A query split for a search the full-text index drives: `match`, the FTS5 expression every hit
 * holds, and `rest`, what else the row must satisfy (null when nothing). The index then hands
 * out its matches newest first and the search stops at a page, instead of collecting every match
 * of a common word to sort them (sqlite-search-index.ts).
 */
export interface FtsDriven {
  match: string;
  rest: SqlCondition | null;
}

/**
 * `node` split as {@link FtsDriven}, or null when no FTS5 expression holds for every hit (an OR
 * with a non-text side, a negation alone, only dates or flags): the caller then uses
 * {@link translateQuery} whole.
 */
export function ftsDriven(node: QueryNode, options: TranslateOptions): FtsDriven | null {
  const terms = indexTerms(options);
  const whole = ftsOf(node, terms);
  if (whole !== null) return { match: whole, rest: null };
  if (node.kind !== 'and') return null;
  const fts: string[] = [];
  const rest: SqlCondition[] = [];
  const translator = new Translator(options);
  for (const c of node.children) {
    const f = ftsOf(c, terms);
    if (f !== null) fts.push(f);
    else rest.push(translator.node(c));
  }
  if (fts.length === 0) return null;
  return {
    match: fts.length === 1 ? fts[0]! : `(${fts.join(' AND ')})`,
    rest: rest.length === 0 ? null : { sql: rest.map((p) => `(${p.sql})`).join(' AND '), args: rest.flatMap((p) => p.args) },
  };
}

/** The condition `node` puts on a `messages` row (see the module comment). */
export function translateQuery(node: QueryNode, options: TranslateOptions): SqlCondition {
  return new Translator(options).node(node);
}
