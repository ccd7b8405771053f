/**
 * How a scenario response's IMAP-style flags become changes of an Exchange item, whichever way
 * the connection speaks to Exchange (EWS or Microsoft Graph): `\Seen` marks the item read, every
 * keyword becomes a category merged into those the item has (compared case-insensitively, as
 * Exchange compares category names), and the other system flags (`\Flagged`, `\Answered`,
 * `\Deleted`, `\Draft`, `\Recent`) are refused with a reason, since neither backend maps them here.
 * Also the bookkeeping of outcomes both backends share. Pure: no I/O.
 */
import type { ResponseRequest } from '../ports/mailbox-source.js';

/** A response's flags as Exchange sees them. */
export interface ExchangeFlagMapping {
  isRead: boolean;
  /** Keywords, each once, in order. */
  categories: string[];
  /** System flags with no Exchange equivalent here. */
  refused: string[];
}

/** Maps IMAP flags to an Exchange item's read state and categories (system flags compare case-insensitively, as IMAP's do). */
export function exchangeFlagMapping(flags: readonly string[]): ExchangeFlagMapping {
  const out: ExchangeFlagMapping = { isRead: false, categories: [], refused: [] };
  for (const f of new Set(flags)) {
    if (f.toLowerCase() === '\\seen') out.isRead = true;
    else if (f.startsWith('\\')) out.refused.push(f);
    else if (!out.categories.includes(f)) out.categories.push(f);
  }
  return out;
}

/** What to set on one item: only what changes it (absent: leave as it is). */
export interface ExchangeItemChange {
  isRead?: true;
  /** The whole merged list (the item's, then the new ones). */
  categories?: string[];
}

/** What one item's requests come to. */
export interface ExchangeItemPlan<R extends ResponseRequest = ResponseRequest> {
  /** What to send; null when everything asked for is there already (or nothing may be applied). */
  change: ExchangeItemChange | null;
  /** The requests the change carries out (applied when the server accepts it). */
  applying: R[];
  /** Requests refused before asking the server, each with its reason. */
  refused: Array<{ request: R; reason: string }>;
}

/**
 * The change one item needs for the flags of `requests` (all naming that item), given the
 * categories it has now. A request with a flag there is no equivalent of is refused whole (none
 * of its flags are set), so it is recorded `failed` with the reason instead of half applied.
 * `backend` names the protocol in the reason ("EWS", "Microsoft Graph").
 */
export function planExchangeItem<R extends ResponseRequest>(requests: readonly R[], currentCategories: readonly string[], backend: string): ExchangeItemPlan<R> {
  const categories = [...currentCategories];
  let isRead = false;
  const plan: ExchangeItemPlan<R> = { change: null, applying: [], refused: [] };
  for (const r of requests) {
    const flags = r.response.addFlags ?? [];
    if (flags.length === 0) continue;
    const map = exchangeFlagMapping(flags);
    if (map.refused.length > 0) {
      const s = map.refused.length === 1 ? '' : 's';
      plan.refused.push({ request: r, reason: `${backend} has no equivalent of the flag${s} ${map.refused.join(' ')} in this build (\\Seen sets the item read, any keyword becomes a category)` });
      continue;
    }
    isRead ||= map.isRead;
    for (const c of map.categories) if (!categories.some((x) => x.toLowerCase() === c.toLowerCase())) categories.push(c);
    plan.applying.push(r);
  }
  const change: ExchangeItemChange = { ...(isRead ? { isRead: true as const } : {}), ...(categories.length > currentCategories.length ? { categories } : {}) };
  if (plan.applying.length > 0 && (change.isRead !== undefined || change.categories !== undefined)) plan.change = change;
  return plan;
}

/** Requests grouped by what `itemOf` says they name, in order of first appearance. */
export function groupBy<R>(requests: readonly R[], itemOf: (r: R) => string): Map<string, R[]> {
  const m = new Map<string, R[]>();
  for (const r of requests) {
    const k = itemOf(r);
    m.set(k, [...(m.get(k) ?? []), r]);
  }
  return m;
}
