/**
 * Legal holds as the domain sees them (issue 16, item 4; docs/legal-hold.md): a named hold keeps
 * messages from the purge, whatever the retention says, until an admin releases it. A hold names
 * messages by their archive ids, by a search query, or both; a hold by query is a custodian hold,
 * evaluated whenever it is asked, so mail archived after it was placed that matches is held too.
 * Released holds are kept for the record and never deleted. Pure: no I/O.
 */
import { MailsluiceError } from '../errors/index.js';
import { parseSearchQuery, type QueryNode } from '../search/query-language.js';

/** A hold as the store keeps it, active (`releasedAt` null) or released. */
export interface LegalHold {
  /** Unique among every hold ever placed, released ones included (the record keeps the name). */
  name: string;
  /** Why it was placed (a matter, a ticket): required. */
  reason: string;
  /** A search query in the `search` language (words, "phrases", `word*`): a custodian hold; null when none. */
  query: string | null;
  /** Archive message ids it names (the `id` of a search hit), ascending; empty when none. */
  ids: number[];
  /** Who placed it: a token's name, `local:<user>` through the control socket, the OS user at the command line. */
  placedBy: string;
  /** Milliseconds since the epoch. */
  placedAt: number;
  releasedBy: string | null;
  releasedAt: number | null;
  releaseReason: string | null;
}

/** What placing a hold asks for. */
export interface HoldRequest {
  name: string;
  reason: string;
  /** Absent, null or blank: no query. */
  query?: string | null;
  ids?: readonly number[];
}

/** One problem of a hold request, by its field (what a form shows beside the field). */
export interface HoldProblem {
  field: 'name' | 'reason' | 'query' | 'ids';
  message: string;
}

/** The longest name, reason and query accepted: a record, not a document. */
export const HOLD_LIMITS = { name: 64, reason: 2000, query: 1000, ids: 10_000 } as const;

const NAME_SHAPE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Why `name` cannot name a hold, or null. */
export function holdNameProblem(name: string): string | null {
  return NAME_SHAPE.test(name) ? null : `a hold name is 1 to ${HOLD_LIMITS.name} letters, digits, ".", "_" or "-", starting with a letter or digit (not "${name}")`;
}

/** The query of a request as kept: trimmed, null when blank. */
export function holdQueryOf(request: Pick<HoldRequest, 'query'>): string | null {
  const q = request.query?.trim();
  return q ? q : null;
}

/** The ids of a request as kept: unique, ascending. */
export function holdIdsOf(request: Pick<HoldRequest, 'ids'>): number[] {
  return [...new Set(request.ids ?? [])].sort((a, b) => a - b);
}

/**
 * Every problem of `request` the domain can see without the archive (the store adds unknown ids
 * and a query its search cannot read): the name's shape, a reason, a query or ids, their bounds.
 */
export function holdRequestProblems(request: HoldRequest): HoldProblem[] {
  const problems: HoldProblem[] = [];
  const name = holdNameProblem(request.name);
  if (name) problems.push({ field: 'name', message: name });
  const reason = request.reason.trim();
  if (!reason) problems.push({ field: 'reason', message: 'a hold needs a reason (the matter or ticket it is placed for)' });
  else if (reason.length > HOLD_LIMITS.reason) problems.push({ field: 'reason', message: `a reason is at most ${HOLD_LIMITS.reason} characters` });
  const query = holdQueryOf(request);
  if (query && query.length > HOLD_LIMITS.query) problems.push({ field: 'query', message: `a query is at most ${HOLD_LIMITS.query} characters` });
  const ids = request.ids ?? [];
  const bad = ids.find((id) => !Number.isSafeInteger(id) || id < 1);
  if (bad !== undefined) problems.push({ field: 'ids', message: `a message id is a whole number from 1 (not ${bad})` });
  else if (ids.length > HOLD_LIMITS.ids) problems.push({ field: 'ids', message: `at most ${HOLD_LIMITS.ids} message ids per hold (place more holds, or hold by query)` });
  if (!query && ids.length === 0) problems.push({ field: 'query', message: 'a hold needs a search query, message ids, or both' });
  return problems;
}

/** `HOLD_INVALID` naming every problem, each by field (the API's `problems`). */
export function invalidHold(name: string, problems: readonly HoldProblem[]): MailsluiceError {
  const text = problems.map((p) => `${p.field}: ${p.message}`).join('; ');
  return new MailsluiceError('HOLD_INVALID', `hold "${name}" not placed: ${text}`, { details: { fieldProblems: problems.map((p) => ({ ...p })) } });
}

/** Throws `HOLD_INVALID` unless `reason` is a release reason (required, bounded). */
export function assertReleaseReason(name: string, reason: string): void {
  const r = reason.trim();
  if (!r) throw new MailsluiceError('HOLD_INVALID', `hold "${name}" not released: a release needs a reason`, { details: { fieldProblems: [{ field: 'reason', message: 'a release needs a reason' }] } });
  if (r.length > HOLD_LIMITS.reason) {
    throw new MailsluiceError('HOLD_INVALID', `hold "${name}" not released: a reason is at most ${HOLD_LIMITS.reason} characters`, { details: { fieldProblems: [{ field: 'reason', message: `at most ${HOLD_LIMITS.reason} characters` }] } });
  }
}

/** Whether `hold` still keeps messages. */
export function isActive(hold: Pick<LegalHold, 'releasedAt'>): boolean {
  return hold.releasedAt === null;
}

/**
 * A hold's query as every store evaluates it: the search language read without relative dates
 * (a hold is evaluated again at every purge and must hold the same messages whatever the clock
 * says), and a query that holds nothing to search for refused. `HOLD_INVALID` (field `query`)
 * names the problem; `name` is the hold's, for the sentence.
 */
export function holdQueryTree(name: string, query: string): QueryNode {
  try {
    const tree = parseSearchQuery(query, { now: 0, relativeDates: false });
    if (tree === null) throw new MailsluiceError('SEARCH_QUERY_INVALID', 'search query: it holds nothing to search for, so it would hold nothing');
    return tree;
  } catch (err) {
    if (err instanceof MailsluiceError && err.code === 'SEARCH_QUERY_INVALID') throw invalidHold(name, [{ field: 'query', message: err.message }]);
    throw err;
  }
}

/** `HOLD_INVALID` for ids of a hold no archived message has (the first ten named). */
export function unknownHoldIds(name: string, missing: readonly number[]): MailsluiceError {
  const shown = missing.slice(0, 10).join(', ') + (missing.length > 10 ? ` and ${missing.length - 10} more` : '');
  return invalidHold(name, [{ field: 'ids', message: `no archived message has the id ${shown} (the id of a search hit)` }]);
}

/** `HOLD_EXISTS`: names are unique among every hold ever placed, released ones included. */
export function holdExists(name: string): MailsluiceError {
  return new MailsluiceError('HOLD_EXISTS', `a hold named "${name}" was placed before (mailsluice hold list --all); choose another name`);
}

/** `HOLD_NOT_FOUND`. */
export function holdNotFound(name: string): MailsluiceError {
  return new MailsluiceError('HOLD_NOT_FOUND', `no hold named "${name}" (mailsluice hold list --all shows them)`);
}

/** `HOLD_RELEASED`: a hold is released once; `hold` is the released one. */
export function holdReleasedAlready(hold: LegalHold): MailsluiceError {
  return new MailsluiceError('HOLD_RELEASED', `hold "${hold.name}" was released already, by ${hold.releasedBy} at ${new Date(hold.releasedAt ?? 0).toISOString()}`);
}
