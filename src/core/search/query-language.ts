/**
 * The search query language (docs/search.md), one for the command line, the API's `q` and legal
 * holds: words and "phrases", `word*` prefixes, field terms (`from:` `to:` `cc:` `bcc:` `subject:`
 * `attachment:` `has:attachment` `before:` `after:` `connection:`), `AND`, `OR`, `-`/`NOT` and
 * parentheses, terms side by side AND-ed. Parsed here into a {@link QueryNode} tree, which a store
 * translates (store-sqlite/fts-translate.ts): nothing the user types reaches a database as syntax.
 * What cannot be read is a `SEARCH_QUERY_INVALID` error of one line naming the problem and the
 * character (counted from 1, as the user sees them) where it is. Pure: "today" is the `now` given.
 */
import { MailsluiceError } from '../errors/index.js';
import { DATE_FORMS, parseQueryDate } from './query-dates.js';

/** Where a text term is looked for: `any` is a bare word or phrase (subject, addresses, body, attachment names). */
export type TextField = 'any' | 'from' | 'to' | 'cc' | 'bcc' | 'subject' | 'attachment';

/**
 * One node of a parsed query.
 *
 * - `text`: `value` as the user wrote it (quotes and a trailing `*` taken off); `word` (unquoted:
 *   a bare one also matches its word forms), `phrase` (quoted: exactly these words in this order)
 *   or `prefix` (ends in `*`: every word beginning so; for a phrase, its last word).
 * - `date`: `after` = dated at or after `at`; `before` = dated before `at` (ISO 8601, UTC). A
 *   message with no date matches neither.
 * - `has-attachment`, `connection` (the connection's name, exactly).
 */
export type QueryNode =
  | { kind: 'and'; children: QueryNode[] }
  | { kind: 'or'; children: QueryNode[] }
  | { kind: 'not'; child: QueryNode }
  | { kind: 'text'; field: TextField; value: string; match: 'word' | 'phrase' | 'prefix' }
  | { kind: 'date'; op: 'before' | 'after'; at: string }
  | { kind: 'has-attachment' }
  | { kind: 'connection'; name: string };

/** What the parser needs besides the text. */
export interface ParseOptions {
  /** The time "today", `7d` and the like are read at (UTC milliseconds). */
  now: number;
  /** False: those forms are refused (a legal hold's query, read again at every purge, must not move with the clock). */
  relativeDates?: boolean;
}

/** The longest query read (characters); a longer one is refused rather than parsed. */
export const MAX_QUERY_CHARS = 2000;
/** The deepest nesting of parentheses and negations. */
const MAX_DEPTH = 32;
/** Shows at most this much of the query around a problem. */
const EXCERPT = 24;

const FIELDS = new Set(['from', 'to', 'cc', 'bcc', 'subject', 'attachment', 'has', 'before', 'after', 'connection']);

function invalid(text: string, at: number, problem: string, fix: string): MailsluiceError {
  const rest = text.slice(at).replace(/\s+/gu, ' ');
  const shown = rest.length > EXCERPT ? `${rest.slice(0, EXCERPT)}…` : rest;
  // Characters counted as the user sees them (code points, from 1), not UTF-16 units.
  const column = [...text.slice(0, at)].length + 1;
  return new MailsluiceError('SEARCH_QUERY_INVALID', `search query: ${problem} at character ${column}${shown ? ` (${shown})` : ''}; ${fix}`, { details: { column } });
}

type Token =
  | { t: '(' | ')' | 'OR' | 'AND' | 'NOT' | '-'; at: number }
  | { t: 'term'; at: number; field: string | null; value: string; quoted: boolean; prefix: boolean; valueAt: number };

const isSpace = (ch: string | undefined): boolean => ch !== undefined && /\s/u.test(ch);
const isStop = (ch: string | undefined): boolean => ch === undefined || isSpace(ch) || ch === '(' || ch === ')' || ch === '"';
const hasWord = (s: string): boolean => /[\p{L}\p{N}]/u.test(s);

/** Reads a quoted string starting at `at` (the opening quote): its text and the index after the closing quote. */
function readQuoted(text: string, at: number): { value: string; next: number } {
  const close = text.indexOf('"', at + 1);
  if (close < 0) throw invalid(text, at, 'a quote opens a phrase that is never closed', 'close it with a second " or remove the quote');
  const value = text.slice(at + 1, close);
  if (value.trim() === '') throw invalid(text, at, 'an empty phrase', 'put words between the quotes or remove them');
  return { value, next: close + 1 };
}

/** Reads a term (a word, a "phrase" or field:value) at `at`. */
function readTerm(text: string, at: number): { token: Token; next: number } {
  let i = at;
  let field: string | null = null;
  const fm = /^([a-z]+):/iu.exec(text.slice(at, at + 12));
  if (fm && FIELDS.has(fm[1]!.toLowerCase())) {
    field = fm[1]!.toLowerCase();
    i = at + fm[0].length;
    if (isSpace(text[i]) || i >= text.length || text[i] === ')' || text[i] === '(') {
      throw invalid(text, at, `${field}: has no value`, `write the value right after the colon (${field}:value, or ${field}:"two words")`);
    }
  }
  const valueAt = i;
  let value: string;
  let quoted = false;
  if (text[i] === '"') {
    const q = readQuoted(text, i);
    value = q.value;
    quoted = true;
    i = q.next;
  } else {
    while (!isStop(text[i])) i++;
    value = text.slice(valueAt, i);
  }
  let prefix = false;
  if (quoted && text[i] === '*') {
    prefix = true;
    i++;
  } else if (!quoted && value.endsWith('*')) {
    prefix = true;
    value = value.replace(/\*+$/u, '');
    if (value === '') throw invalid(text, valueAt, 'a * on its own', 'write it at the end of a word to match every word that begins so (invoi*)');
  }
  if (text[i] === '"' || !isStop(text[i])) throw invalid(text, i, 'a quote in the middle of a word', 'put a space before it, or quote the whole phrase');
  return { token: { t: 'term', at, field, value, quoted, prefix, valueAt }, next: i };
}

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (isSpace(ch)) {
      i++;
    } else if (ch === '(' || ch === ')') {
      out.push({ t: ch, at: i++ });
    } else if (ch === '-' && (i === 0 || isSpace(text[i - 1]) || text[i - 1] === '(')) {
      if (isStop(text[i + 1]) && text[i + 1] !== '"' && text[i + 1] !== '(') throw invalid(text, i, 'a - with nothing after it', 'write the word it excludes right after it (-draft)');
      out.push({ t: '-', at: i++ });
    } else {
      const { token, next } = readTerm(text, i);
      const bare = token.t === 'term' && token.field === null && !token.quoted && !token.prefix ? token.value : '';
      if (bare === 'OR' || bare === 'AND' || bare === 'NOT') out.push({ t: bare, at: i });
      else out.push(token);
      i = next;
    }
  }
  return out;
}

/** Reads the tokens into a tree (recursive descent: OR binds loosest, then AND, then - and NOT). */
class Parser {
  private pos = 0;
  constructor(
    private readonly text: string,
    private readonly tokens: Token[],
    private readonly now: number,
    private readonly relativeDates: boolean,
  ) {}

  parse(): QueryNode {
    const node = this.or(0);
    const t = this.tokens[this.pos];
    if (t) throw t.t === ')' ? invalid(this.text, t.at, 'a ) that closes nothing', 'remove it or add the ( it closes') : invalid(this.text, t.at, `an unexpected ${t.t}`, 'check the query');
    return node;
  }

  private or(depth: number): QueryNode {
    const children = [this.and(depth)];
    while (this.tokens[this.pos]?.t === 'OR') {
      const op = this.tokens[this.pos++]!;
      if (this.atEnd()) throw invalid(this.text, op.at, 'OR with nothing after it', 'write a term on both sides of OR, or write "OR" in quotes to search for the word');
      children.push(this.and(depth));
    }
    return children.length === 1 ? children[0]! : { kind: 'or', children };
  }

  private atEnd(): boolean {
    const t = this.tokens[this.pos];
    return t === undefined || t.t === ')';
  }

  private and(depth: number): QueryNode {
    const children: QueryNode[] = [];
    for (;;) {
      const t = this.tokens[this.pos];
      if (t === undefined || t.t === ')' || t.t === 'OR') break;
      if (t.t === 'AND') {
        this.pos++;
        if (children.length === 0) throw invalid(this.text, t.at, 'AND with nothing before it', 'write a term on both sides of AND, or write "AND" in quotes to search for the word');
        if (this.atEnd() || this.tokens[this.pos]!.t === 'OR' || this.tokens[this.pos]!.t === 'AND') {
          throw invalid(this.text, t.at, 'AND with nothing after it', 'write a term on both sides of AND, or write "AND" in quotes to search for the word');
        }
        continue;
      }
      children.push(this.unary(depth));
    }
    const first = this.tokens[this.pos];
    if (children.length === 0) {
      const at = first?.at ?? this.text.length;
      if (first?.t === 'OR') throw invalid(this.text, at, 'OR with nothing before it', 'write a term on both sides of OR, or write "OR" in quotes to search for the word');
      throw invalid(this.text, at, first ? 'empty parentheses' : 'nothing to search for', 'write a word, a "phrase" or a field term (from:alice)');
    }
    return children.length === 1 ? children[0]! : { kind: 'and', children };
  }

  private unary(depth: number): QueryNode {
    if (depth > MAX_DEPTH) throw invalid(this.text, this.tokens[this.pos]!.at, `more than ${MAX_DEPTH} levels of parentheses or negations`, 'write a flatter query');
    const t = this.tokens[this.pos++]!;
    if (t.t === '-' || t.t === 'NOT') {
      const next = this.tokens[this.pos];
      if (next === undefined || next.t === ')' || next.t === 'OR' || next.t === 'AND') throw invalid(this.text, t.at, `${t.t === '-' ? 'a -' : 'NOT'} with nothing after it`, 'write the term it excludes right after it (-draft, NOT draft)');
      return { kind: 'not', child: this.unary(depth + 1) };
    }
    if (t.t === '(') {
      const inner = this.or(depth + 1);
      const close = this.tokens[this.pos];
      if (close?.t !== ')') throw invalid(this.text, t.at, 'a ( that is never closed', 'close it with a )');
      this.pos++;
      return inner;
    }
    if (t.t === 'term') return this.term(t);
    // ')' is handled by the callers, OR and AND too; anything else cannot come here.
    throw invalid(this.text, t.at, `an unexpected ${t.t}`, 'check the query');
  }

  private term(t: Extract<Token, { t: 'term' }>): QueryNode {
    const { field, value } = t;
    const match = t.prefix ? 'prefix' : t.quoted ? 'phrase' : 'word';
    if (field === 'has') {
      if (value.toLowerCase() === 'attachment' && !t.prefix) return { kind: 'has-attachment' };
      throw invalid(this.text, t.valueAt, `has:${value} is not known`, 'the one form is has:attachment');
    }
    if (field === 'connection') {
      if (t.prefix) throw invalid(this.text, t.valueAt, 'connection: takes a whole name, not a prefix', 'write the connection name exactly (connection:journal)');
      return { kind: 'connection', name: value };
    }
    if (field === 'before' || field === 'after') {
      const period = t.prefix ? null : parseQueryDate(value, this.now);
      if (!period) throw invalid(this.text, t.valueAt, `${field}:${value} is not a date`, `write one of ${DATE_FORMS}`);
      if (period.relative && !this.relativeDates) throw invalid(this.text, t.valueAt, `${field}:${value} moves with the clock`, 'write a fixed date here (2024-03-05)');
      return { kind: 'date', op: field, at: new Date(period.start).toISOString() };
    }
    if (!hasWord(value)) throw invalid(this.text, t.valueAt, 'a term with no letter or digit', 'the index keeps words only: search for a word, or remove it');
    return { kind: 'text', field: (field ?? 'any') as TextField, value, match };
  }
}

/**
 * The tree of `text`, or null when it holds nothing to search for (blank).
 *
 * @throws MailsluiceError `SEARCH_QUERY_INVALID`: one line naming the problem and its character.
 */
export function parseSearchQuery(text: string, options: ParseOptions): QueryNode | null {
  if (text.trim() === '') return null;
  if (text.length > MAX_QUERY_CHARS) throw invalid(text, MAX_QUERY_CHARS, `longer than ${MAX_QUERY_CHARS} characters`, 'write a shorter query');
  return new Parser(text, tokenize(text), options.now, options.relativeDates ?? true).parse();
}

/** Every node of `nodes` AND-ed (nulls left out), or null when none is left. */
export function allOf(...nodes: Array<QueryNode | null | undefined>): QueryNode | null {
  const kept: QueryNode[] = [];
  for (const n of nodes) {
    if (!n) continue;
    if (n.kind === 'and') kept.push(...n.children);
    else kept.push(n);
  }
  return kept.length === 0 ? null : kept.length === 1 ? kept[0]! : { kind: 'and', children: kept };
}

/**
 * The words a hit's snippet marks: every text term not under a negation, lowercase, split into
 * its words (a prefix term's last word a prefix).
 */
export function highlightTerms(node: QueryNode | null): Array<{ word: string; prefix: boolean }> {
  const out: Array<{ word: string; prefix: boolean }> = [];
  const walk = (n: QueryNode): void => {
    if (n.kind === 'and' || n.kind === 'or') n.children.forEach(walk);
    else if (n.kind === 'text') {
      const words = n.value.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w !== '');
      words.forEach((word, i) => out.push({ word, prefix: n.match === 'prefix' && i === words.length - 1 }));
    }
  };
  if (node) walk(node);
  return out;
}

/** `value` as a field term's value in the language (quoted when it must be), for sugar such as `--from`. */
export function quoteValue(value: string): string {
  return /^[^\s()"*]+$/u.test(value) && !/^-/u.test(value) ? value : `"${value.replace(/"/gu, ' ')}"`;
}
