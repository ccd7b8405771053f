/**
 * What `mailsluice search` searches for: QUERY in the search language (docs/search.md) and the
 * older options as sugar that adds terms (`--from X` is `from:X`, `--since D` is `after:D`, …).
 * The query is read here, before the archive is opened or the service asked, so a query that
 * cannot be read is an error of one line and a date of the options is read against this
 * machine's clock once (`--since yesterday` finds yesterday's mail, never nothing).
 */
import { MailsluiceError } from '../core/errors/index.js';
import { allOf, parseSearchQuery, quoteValue, type QueryNode } from '../core/search/query-language.js';
import { DATE_FORMS, parseQueryDate } from '../core/search/query-dates.js';

/** A search as the command makes it. */
export interface CliSearch {
  /** QUERY as typed (the words joined by spaces): what the audit record and the service get as `q`. */
  text: string;
  /** The options' terms in the language, their dates as instants: the service gets them as `text`. */
  sugar: string;
  /** Both read: what the store searches for; null when neither holds anything. */
  query: QueryNode | null;
}

/** A date option read at `now` as the instant it starts at. */
function dateOption(option: string, value: string, now: number): string {
  const period = parseQueryDate(value, now);
  if (!period) throw new MailsluiceError('CLI_USAGE', `--${option}: cannot read ${JSON.stringify(value)} as a date; write one of ${DATE_FORMS}`);
  return new Date(period.start).toISOString();
}

/**
 * The search of `positionals` and `options` read at `now`.
 *
 * @throws MailsluiceError `SEARCH_QUERY_INVALID` for QUERY, `CLI_USAGE` for an option.
 */
export function cliSearch(positionals: string[], options: Record<string, string | boolean | undefined>, now: number): CliSearch {
  const text = positionals.join(' ');
  const str = (k: string): string | undefined => (typeof options[k] === 'string' && options[k] !== '' ? (options[k] as string) : undefined);
  const terms: string[] = [];
  const from = str('from');
  const to = str('to');
  const connection = str('connection');
  const since = str('since');
  const before = str('before');
  if (from) terms.push(`from:${quoteValue(from)}`);
  // --to meant any recipient, as it always did.
  if (to) terms.push(`(to:${quoteValue(to)} OR cc:${quoteValue(to)} OR bcc:${quoteValue(to)})`);
  if (connection) terms.push(`connection:${quoteValue(connection)}`);
  if (since) terms.push(`after:${dateOption('since', since, now)}`);
  if (before) terms.push(`before:${dateOption('before', before, now)}`);
  if (options['has-attachment'] === true) terms.push('has:attachment');
  const sugar = terms.join(' ');
  let own: QueryNode | null;
  try {
    own = sugar ? parseSearchQuery(sugar, { now }) : null;
  } catch (err) {
    // A value an option gives that the language cannot hold (--from '""'): the option's mistake.
    throw new MailsluiceError('CLI_USAGE', `the options' terms cannot be read: ${(err as Error).message}`);
  }
  return { text, sugar, query: allOf(parseSearchQuery(text, { now }), own) };
}

/** The options given that add terms, as typed (what the audit record keeps beside the query). */
export function searchOptionsOf(options: Record<string, unknown>): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (const k of ['from', 'to', 'connection', 'since', 'before', 'has-attachment']) {
    const v = options[k];
    if (typeof v === 'string' || v === true) out[k] = v;
  }
  return out;
}
