/**
 * The archive's calls (role auditor): the search (`GET /api/v1/messages`), one message's view,
 * and the links the browser downloads or frames with its session cookie alone (export, raw
 * `.eml`, the sandboxed HTML body, an attachment).
 */
import type { Schemas } from './api-types.js';
import { call, seg } from './api.js';

/** The search filters the Archive page keeps in its hash (`#/archive?q=…&from=…`). */
export interface ArchiveFilters {
  /** The search language (docs/search.md): words, "phrases", `word*`, `from:`, `after:`, OR, - … (the API's `q`). */
  q: string;
  from: string;
  to: string;
  /** First day, `YYYY-MM-DD`, inclusive. */
  since: string;
  /** Last day, `YYYY-MM-DD`, inclusive (the API's `before` is the day after). */
  until: string;
  /** `''` (either), `true` or `false`. */
  hasAttachment: string;
  connection: string;
}

/** The filter names, in the order they go into the hash. */
export const FILTER_KEYS: ReadonlyArray<keyof ArchiveFilters> = ['q', 'from', 'to', 'since', 'until', 'hasAttachment', 'connection'];

/** The filters of the hash's query (absent ones empty). */
export function filtersOf(query: URLSearchParams): ArchiveFilters {
  const f = {} as ArchiveFilters;
  for (const k of FILTER_KEYS) f[k] = query.get(k) ?? '';
  return f;
}

/** The filters as the hash's query: only the ones given, so a plain `#/archive` stays plain. */
export function filtersQuery(f: ArchiveFilters): string {
  const p = new URLSearchParams();
  for (const k of FILTER_KEYS) if (f[k].trim() !== '') p.set(k, f[k].trim());
  return p.toString();
}

/** The day after `day` (`YYYY-MM-DD`), for the API's exclusive `before`. */
function dayAfter(day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return day;
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

/** The filters as the API's query parameters (`q`, `before` the day after `until`, …). */
export function apiQuery(f: ArchiveFilters): URLSearchParams {
  const p = new URLSearchParams();
  const put = (name: string, value: string): void => {
    if (value.trim() !== '') p.set(name, value.trim());
  };
  put('q', f.q);
  put('from', f.from);
  put('to', f.to);
  put('since', f.since);
  if (f.until.trim() !== '') put('before', dayAfter(f.until.trim()));
  put('hasAttachment', f.hasAttachment);
  put('connection', f.connection);
  return p;
}

/** One hit (`SearchHit`). */
export type SearchHit = Schemas['SearchHit'];

/** One page of hits (`SearchPage`). */
export type SearchPage = Schemas['SearchPage'];

/** Hits per page the console asks for. */
export const PAGE_SIZE = 20;

/** One page of the search `f`, after `cursor` (the `nextCursor` of the page before). */
export function searchMessages(f: ArchiveFilters, cursor: string | null): Promise<SearchPage> {
  const p = apiQuery(f);
  p.set('limit', String(PAGE_SIZE));
  if (cursor) p.set('cursor', cursor);
  return call<SearchPage>('GET', `/api/v1/messages?${p.toString()}`);
}

/** Where the export of the search `f` downloads from, as mbox or zip. */
export function exportUrl(f: ArchiveFilters, format: 'mbox' | 'zip'): string {
  const p = apiQuery(f);
  p.set('format', format);
  return `/api/v1/messages/export?${p.toString()}`;
}

/** An address (`Address`). */
export type Address = Schemas['Address'];

/** A fresh parse of the message (`MessageContent`). */
export type MessageContent = Schemas['MessageContent'];

/** One attachment (`AttachmentInfo`); `url` is signed. */
export type AttachmentInfo = Schemas['AttachmentInfo'];

/** One message (`Message`). */
export type ArchivedMessage = Schemas['Message'];

export function getMessage(archiveId: string): Promise<ArchivedMessage> {
  return call<ArchivedMessage>('GET', `/api/v1/messages/${seg(archiveId)}`);
}

/** The raw `.eml`, as it was taken. */
export function rawUrl(archiveId: string): string {
  return `/api/v1/messages/${seg(archiveId)}/raw`;
}

/** The HTML body, served under its own sandboxing policy, for `<iframe sandbox="">`. */
export function htmlUrl(archiveId: string): string {
  return `/api/v1/messages/${seg(archiveId)}/html`;
}

/**
 * An attachment's signed URL as a link of this origin: the signature covers the path and the
 * expiry, not the host, so the path and query alone serve it here (the configured public URL may
 * name another host than the one the console was opened at).
 */
export function attachmentLink(url: string): string {
  try {
    const u = new URL(url, location.origin);
    return `${u.pathname}${u.search}`;
  } catch {
    return url;
  }
}
