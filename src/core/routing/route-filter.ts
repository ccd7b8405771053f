/**
 * Route filters (SPEC "Route settings": conditions on from / to / subject / header / size / has
 * attachment): pure functions from a route's filter and a message's attributes to "takes this
 * route or not". The index stage calls them when it saves a parse result, so what a route gets
 * is decided once, in the transaction that queues it (docs/adr/0006-outbox-and-buses.md).
 */
import type { Address, CustomHeader } from '../message/attributes.js';
import type { RegexEngine } from '../ports/regex-engine.js';
import { MailsluiceError } from '../errors/index.js';

/** A route's filter as configured; every condition given must hold. */
export interface RouteFilter {
  from?: string | undefined;
  to?: string | undefined;
  subject?: string | undefined;
  header?: { name: string; value: string } | undefined;
  minSize?: number | undefined;
  maxSize?: number | undefined;
  hasAttachment?: boolean | undefined;
  /** `contains` (case-insensitive substring) or `regex` (case-insensitive, Unicode, RE2 syntax on a linear-time engine). */
  match: 'contains' | 'regex';
}

/** What a filter looks at. Attributes an unparsable message lacks are simply empty. */
export interface FilterSubject {
  /** Raw size in bytes, as stored. */
  size: number;
  From?: Address | null | undefined;
  To?: Address[] | undefined;
  Cc?: Address[] | undefined;
  Bcc?: Address[] | undefined;
  Subject?: string | undefined;
  CustomHeaders?: CustomHeader[] | undefined;
  /** Number of attachments, or their list. */
  attachments: number;
}

/** `Name <address>`, or the address alone: the text from/to conditions are matched against. */
function addressText(a: Address): string {
  return a.Name ? `${a.Name} <${a.Address}>` : a.Address;
}

/**
 * Most characters of one message a `regex` condition reads, over all the values it tests (the
 * recipients of a `to`, the repeats of a header), a value longer than what is left read up to
 * there. Why: the engine is linear in the text, but the text is the sender's: a header block may
 * be 2 MiB (`MAX_HEADER_BYTES`), and a pattern whose DFA the text outgrows costs microseconds
 * per character on the thread that drains. Subjects, addresses and header values of real mail
 * are far shorter; 64 KiB is about 1,300 recipients of a `to` list. `contains` reads everything
 * (a substring search is a plain scan, ~1 GB/s).
 */
export const MAX_REGEX_TEXT_CHARS = 64 * 1024;

/** A text test for one value. */
export type TextTest = (value: string) => boolean;

/** A condition compiled: its test, and whether it reads under {@link MAX_REGEX_TEXT_CHARS}. */
interface Condition {
  test: TextTest;
  bounded: boolean;
}

/**
 * Builds the test for one pattern on `engine` (for `regex`). Throws CONFIG_INVALID for a pattern
 * the engine refuses, which a loaded configuration never has (see {@link filterProblems}).
 */
export function textTest(pattern: string, match: 'contains' | 'regex', engine: RegexEngine): TextTest {
  if (match === 'regex') {
    const re = engine.compile(pattern);
    if (!re.ok) throw new MailsluiceError('CONFIG_INVALID', `route regex ${JSON.stringify(pattern)}: ${re.reason}`);
    return re.test;
  }
  const needle = pattern.toLowerCase();
  return (v) => v.toLowerCase().includes(needle);
}

/** The first `n` UTF-16 units of `s`, one fewer rather than half a surrogate pair. */
function cut(s: string, n: number): string {
  const code = s.charCodeAt(n - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? n - 1 : n);
}

/** Whether any of a message's values passes, a bounded condition reading its budget at most. */
function anyOf(c: Condition, values: Iterable<string>): boolean {
  let left = c.bounded ? MAX_REGEX_TEXT_CHARS : Infinity;
  for (const v of values) {
    if (left <= 0) return false;
    const text = v.length > left ? cut(v, left) : v;
    left -= text.length;
    if (c.test(text)) return true;
  }
  return false;
}

/** A filter ready to run: its regexes compiled. */
export interface CompiledFilter {
  /** Whether the filter needs the attributes at all (size alone does not). */
  readonly needsAttributes: boolean;
  matches(message: FilterSubject): boolean;
}

/** Compiles a filter, its regexes on `engine`; `undefined` (no filter) takes every message. */
export function compileFilter(filter: RouteFilter | undefined, engine: RegexEngine): CompiledFilter {
  if (!filter) return { needsAttributes: false, matches: () => true };
  const bounded = filter.match === 'regex';
  const condition = (pattern: string | undefined): Condition | undefined => (pattern === undefined ? undefined : { test: textTest(pattern, filter.match, engine), bounded });
  const from = condition(filter.from);
  const to = condition(filter.to);
  const subject = condition(filter.subject);
  const headerName = filter.header?.name.toLowerCase();
  const headerValue = condition(filter.header?.value);
  return {
    needsAttributes: Boolean(from || to || subject || headerValue || filter.hasAttachment !== undefined),
    matches(m) {
      if (filter.minSize !== undefined && m.size < filter.minSize) return false;
      if (filter.maxSize !== undefined && m.size > filter.maxSize) return false;
      if (filter.hasAttachment !== undefined && m.attachments > 0 !== filter.hasAttachment) return false;
      // An absent From matches nothing: "from contains x" cannot hold for a message without one.
      if (from && !(m.From && anyOf(from, [addressText(m.From)]))) return false;
      // Each recipient on its own, so `^` and `$` anchor at one address, not a joined list.
      if (to && !anyOf(to, [...(m.To ?? []), ...(m.Cc ?? []), ...(m.Bcc ?? [])].map(addressText))) return false;
      if (subject && !anyOf(subject, [m.Subject ?? ''])) return false;
      if (headerValue) {
        // Header names compare case-insensitively (RFC 5322); any of a repeated header's values may match.
        const h = (m.CustomHeaders ?? []).find((x) => x.Name.toLowerCase() === headerName);
        if (!h || !anyOf(headerValue, h.ListValues)) return false;
      }
      return true;
    },
  };
}

/**
 * Problems of a filter as `[key, message]` pairs (for `config check`): regexes `engine` refuses
 * (invalid, or a construct a linear-time engine cannot run), each with the engine's reason.
 */
export function filterProblems(filter: RouteFilter | undefined, engine: RegexEngine): Array<[key: string, message: string]> {
  if (!filter || filter.match !== 'regex') return [];
  const out: Array<[string, string]> = [];
  const check = (key: string, pattern: string | undefined): void => {
    if (pattern === undefined) return;
    const re = engine.compile(pattern);
    if (!re.ok) out.push([key, re.reason]);
  };
  check('from', filter.from);
  check('to', filter.to);
  check('subject', filter.subject);
  check('header.value', filter.header?.value);
  return out;
}
