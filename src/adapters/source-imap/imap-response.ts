/**
 * Reading IMAP server responses (RFC 3501 §7, §9): the tokens of one response line and the
 * parts of a response that carries literals. Only what the drain's commands receive is parsed
 * into structure (status responses with their code, EXISTS/EXPUNGE/RECENT, SEARCH, ESEARCH,
 * FETCH); any other untagged response is kept as its tokens and ignored by the callers.
 */

/** A quoted string of a response (kept apart from atoms so `"NIL"` is not `NIL`). */
export interface ImapQuoted {
  readonly quoted: string;
}

/**
 * A literal that arrived over several socket reads, kept as the pieces it came in rather than
 * copied into one buffer: each piece owns its memory (a whole socket chunk, or a copy of the
 * literal's part of an edge chunk), so a consumer may hand them to another thread as they are.
 */
export class LiteralParts {
  constructor(
    readonly parts: Buffer[],
    readonly length: number,
  ) {}

  /** The literal as one buffer (a copy). */
  toBuffer(): Buffer {
    return Buffer.concat(this.parts, this.length);
  }
}

/** One value in a response: an atom (numbers, NIL, flags, `BODY[]<0>` included), a quoted string, a literal's bytes or a parenthesised list. */
export type ImapToken = string | ImapQuoted | Buffer | LiteralParts | ImapToken[];

/** A protocol violation by the server: the error map reports it as SOURCE_PROTOCOL. */
export class ImapParseError extends Error {
  /** imapflow's parser errors carry codes starting with "Parser"; ours share the prefix so one rule maps both. */
  readonly code = 'ParserError';
  constructor(message: string) {
    super(message);
    this.name = 'ImapParseError';
  }
}

/** The marker that stands for the `i`-th literal inside a response's text. */
const LITERAL_MARK = '\u0000';

/**
 * Tokenises response text in which every literal was replaced by {@link LITERAL_MARK}; the
 * literals' bytes come in order from `literals`. Brackets inside an atom (`BODY[HEADER.FIELDS
 * (A B)]<0>`) belong to the atom, as RFC 3501's `section` grammar has it.
 */
export function tokenize(text: string, literals: ReadonlyArray<Buffer | LiteralParts> = []): ImapToken[] {
  const root: ImapToken[] = [];
  const stack: ImapToken[][] = [root];
  let lit = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    const top = stack[stack.length - 1]!;
    if (c === 32) {
      i++;
    } else if (c === 40) {
      // (
      const list: ImapToken[] = [];
      top.push(list);
      stack.push(list);
      i++;
    } else if (c === 41) {
      // )
      if (stack.length === 1) throw new ImapParseError(`unbalanced ")" in ${JSON.stringify(text.slice(0, 120))}`);
      stack.pop();
      i++;
    } else if (c === 34) {
      // "quoted", with \" and \\ escapes
      let out = '';
      let j = i + 1;
      for (;;) {
        if (j >= n) throw new ImapParseError(`unterminated quoted string in ${JSON.stringify(text.slice(0, 120))}`);
        const d = text.charCodeAt(j);
        if (d === 34) break;
        if (d === 92 && j + 1 < n) {
          out += text[j + 1];
          j += 2;
        } else {
          out += text[j];
          j++;
        }
      }
      top.push({ quoted: out });
      i = j + 1;
    } else if (c === 0) {
      const b = literals[lit++];
      if (b === undefined) throw new ImapParseError('a literal marker without its literal');
      top.push(b);
      i++;
    } else {
      // An atom: up to a space, a parenthesis or the end; "[" opens a section that runs to its "]".
      let j = i;
      let depth = 0;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 91) depth++;
        else if (d === 93) depth = Math.max(0, depth - 1);
        else if (depth === 0 && (d === 32 || d === 40 || d === 41)) break;
        j++;
      }
      top.push(text.slice(i, j));
      i = j;
    }
  }
  if (stack.length !== 1) throw new ImapParseError(`unbalanced "(" in ${JSON.stringify(text.slice(0, 120))}`);
  return root;
}

/** A status response: `OK`, `NO`, `BAD`, `BYE` or `PREAUTH`, with its response code and text. */
export interface ImapStatus {
  status: 'OK' | 'NO' | 'BAD' | 'BYE' | 'PREAUTH';
  /** The response code's name, upper-case (`TRYCREATE`, `UIDVALIDITY`, …), if any. */
  code?: string;
  /** The response code's arguments as given (`"12345"` for `[UIDVALIDITY 12345]`). */
  codeArgs?: string;
  /** The human-readable text. */
  text: string;
}

const STATUS_WORDS = new Set(['OK', 'NO', 'BAD', 'BYE', 'PREAUTH']);

/** Reads `OK [CODE args] text` (the part after the tag); null if it is not a status response. */
export function parseStatus(rest: string): ImapStatus | null {
  const sp = rest.indexOf(' ');
  const word = (sp < 0 ? rest : rest.slice(0, sp)).toUpperCase();
  if (!STATUS_WORDS.has(word)) return null;
  let text = sp < 0 ? '' : rest.slice(sp + 1);
  const status: ImapStatus = { status: word as ImapStatus['status'], text };
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end > 0) {
      const inner = text.slice(1, end);
      const csp = inner.indexOf(' ');
      status.code = (csp < 0 ? inner : inner.slice(0, csp)).toUpperCase();
      if (csp >= 0) status.codeArgs = inner.slice(csp + 1);
      text = text.slice(end + 1).trimStart();
      status.text = text;
    }
  }
  return status;
}

/** Reads the numbers of `* SEARCH 1 2 3` (the part after `SEARCH`), ignoring a trailing `(MODSEQ n)`. */
export function parseSearchNumbers(rest: string): number[] {
  const out: number[] = [];
  const paren = rest.indexOf('(');
  const s = paren >= 0 ? rest.slice(0, paren) : rest;
  let v = -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) v = (v < 0 ? 0 : v * 10) + (c - 48);
    else if (c === 32) {
      if (v >= 0) out.push(v);
      v = -1;
    } else throw new ImapParseError(`unexpected ${JSON.stringify(s[i])} in a SEARCH response`);
  }
  if (v >= 0) out.push(v);
  return out;
}

/** Expands an IMAP sequence set of numbers (`1:3,7`, as ESEARCH's ALL gives it) into its numbers. */
export function expandSequenceSet(set: string): number[] {
  const out: number[] = [];
  for (const part of set.split(',')) {
    const colon = part.indexOf(':');
    if (colon < 0) {
      out.push(strictNumber(part));
      continue;
    }
    let a = strictNumber(part.slice(0, colon));
    let b = strictNumber(part.slice(colon + 1));
    if (a > b) [a, b] = [b, a];
    if (b - a > 10_000_000) throw new ImapParseError(`a sequence set range too large to expand: ${part}`);
    for (let v = a; v <= b; v++) out.push(v);
  }
  return out;
}

function strictNumber(s: string): number {
  if (!/^\d{1,10}$/.test(s)) throw new ImapParseError(`not a number in a sequence set: ${JSON.stringify(s)}`);
  return Number(s);
}

/** The literal marker, for the wire reader that builds response text. */
export { LITERAL_MARK };
