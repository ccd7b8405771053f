/**
 * Route filters (SPEC "Route settings": conditions on from / to / subject / header / size / has
 * attachment): pure functions from a route's filter and a message's attributes to "takes this
 * route or not". The index stage calls them when it saves a parse result, so what a route gets
 * is decided once, in the transaction that queues it (docs/adr/0006-outbox-and-buses.md).
 */
import type { Address, CustomHeader } from '../message/attributes.js';

/** A route's filter as configured; every condition given must hold. */
export interface RouteFilter {
  from?: string | undefined;
  to?: string | undefined;
  subject?: string | undefined;
  header?: { name: string; value: string } | undefined;
  minSize?: number | undefined;
  maxSize?: number | undefined;
  hasAttachment?: boolean | undefined;
  /** `contains` (case-insensitive substring) or `regex` (case-insensitive, Unicode). */
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
 * A text test for one condition. Regexes are compiled once per filter and condition (the config
 * loader has already checked that they compile, see {@link filterProblems}).
 */
export type TextTest = (value: string) => boolean;

/** Builds the test for one pattern. Throws a SyntaxError for an invalid regex. */
export function textTest(pattern: string, match: 'contains' | 'regex'): TextTest {
  if (match === 'regex') {
    const re = new RegExp(pattern, 'iu');
    return (v) => re.test(v);
  }
  const needle = pattern.toLowerCase();
  return (v) => v.toLowerCase().includes(needle);
}

/** A filter ready to run: its regexes compiled. */
export interface CompiledFilter {
  /** Whether the filter needs the attributes at all (size alone does not). */
  readonly needsAttributes: boolean;
  matches(message: FilterSubject): boolean;
}

/** Compiles a filter; `undefined` (no filter) takes every message. */
export function compileFilter(filter: RouteFilter | undefined): CompiledFilter {
  if (!filter) return { needsAttributes: false, matches: () => true };
  const from = filter.from !== undefined ? textTest(filter.from, filter.match) : undefined;
  const to = filter.to !== undefined ? textTest(filter.to, filter.match) : undefined;
  const subject = filter.subject !== undefined ? textTest(filter.subject, filter.match) : undefined;
  const headerName = filter.header?.name.toLowerCase();
  const headerValue = filter.header ? textTest(filter.header.value, filter.match) : undefined;
  return {
    needsAttributes: Boolean(from || to || subject || headerValue || filter.hasAttachment !== undefined),
    matches(m) {
      if (filter.minSize !== undefined && m.size < filter.minSize) return false;
      if (filter.maxSize !== undefined && m.size > filter.maxSize) return false;
      if (filter.hasAttachment !== undefined && m.attachments > 0 !== filter.hasAttachment) return false;
      // An absent From matches nothing: "from contains x" cannot hold for a message without one.
      if (from && !(m.From && from(addressText(m.From)))) return false;
      // Each recipient on its own, so `^` and `$` anchor at one address, not a joined list.
      if (to && ![...(m.To ?? []), ...(m.Cc ?? []), ...(m.Bcc ?? [])].some((a) => to(addressText(a)))) return false;
      if (subject && !subject(m.Subject ?? '')) return false;
      if (headerValue) {
        // Header names compare case-insensitively (RFC 5322); any of a repeated header's values may match.
        const h = (m.CustomHeaders ?? []).find((x) => x.Name.toLowerCase() === headerName);
        if (!h || !h.ListValues.some((v) => headerValue(v))) return false;
      }
      return true;
    },
  };
}

/** Problems of a filter as `[key, message]` pairs (for `config check`): regexes that do not compile. */
export function filterProblems(filter: RouteFilter | undefined): Array<[key: string, message: string]> {
  if (!filter || filter.match !== 'regex') return [];
  const out: Array<[string, string]> = [];
  const check = (key: string, pattern: string | undefined): void => {
    if (pattern === undefined) return;
    try {
      textTest(pattern, 'regex');
    } catch (err) {
      out.push([key, `is not a valid regular expression: ${(err as Error).message}`]);
    }
  };
  check('from', filter.from);
  check('to', filter.to);
  check('subject', filter.subject);
  check('header.value', filter.header?.value);
  return out;
}
