/**
 * What the command line's commands ask a running service for through its control socket (ADR
 * 0025), each answer put back into the shape the command prints when it does the work itself,
 * so its output is the same either way. The service records each read on the audit log (as
 * `local:<OS user>` from `control socket`).
 */
import type { SearchHit } from '../core/ports/search-index.js';
import type { IndexProgress } from '../core/ports/search-rebuild.js';
import type { TokenInfo } from '../core/ports/token-store.js';
import type { Role } from '../core/access/principal.js';
import type { ConnectionSettings } from '../api/index.js';
import { MailsluiceError } from '../core/errors/index.js';
import type { AuditRecordJson, AuditVerdict } from './audit.js';
import type { PruneReport } from './audit-retention.js';
import type { PurgeReport } from './purge.js';
import type { CreatedToken } from './tokens.js';
import type { HoldJson } from './holds.js';
import type { HoldRequest } from '../core/holds/legal-hold.js';
import type { ControlClient } from './control-client.js';

/** The most hits or records the API gives per page. */
const SEARCH_PAGE = 500;
const AUDIT_PAGE = 1000;

type ApiHit = { id: number; archiveId: string; connection: string; from: string; subject: string; date: string | null; size: number };

/**
 * Up to `limit` hits of the search `q` (the query language, docs/search.md) AND `text` (more of
 * it: the command's options as terms), newest first, as the store answers them (`mailsluice search`).
 */
export async function searchThroughService(service: ControlClient, query: { q: string; text?: string }, limit: number): Promise<{ hits: SearchHit[]; reindex: IndexProgress }> {
  const hits: SearchHit[] = [];
  let cursor: string | null | undefined;
  let reindex: IndexProgress = { rebuilding: false, done: 0, total: 0 };
  while (hits.length < limit && cursor !== null) {
    // No excerpts: the command shows none, and each would read its message again.
    const page = await service.json<{ hits: ApiHit[]; nextCursor: string | null; reindex?: { done: number; total: number } }>('GET', '/api/v1/messages', {
      // The query as typed as `text` (what the service's audit record keeps, as the command's own), its options' terms as `q`.
      ...(query.q.trim() ? { text: query.q } : {}),
      ...(query.text ? { q: query.text } : {}),
      excerpts: 'false',
      limit: String(Math.min(SEARCH_PAGE, limit - hits.length)),
      ...(cursor ? { cursor } : {}),
    });
    for (const h of page.hits) hits.push({ id: h.id, sha256: h.archiveId, connection: h.connection, from: h.from, subject: h.subject, date: h.date, size: h.size });
    if (page.reindex) reindex = { rebuilding: true, ...page.reindex };
    cursor = page.nextCursor;
  }
  return { hits: hits.slice(0, limit), reindex };
}

/** The audit records matching the filter, oldest first (`mailsluice audit list`). */
export async function auditListThroughService(service: ControlClient, filter: { since?: number; until?: number; who?: string; action?: string; limit?: number }): Promise<AuditRecordJson[]> {
  const records: AuditRecordJson[] = [];
  let cursor: string | null | undefined;
  const want = filter.limit ?? Number.POSITIVE_INFINITY;
  while (records.length < want && cursor !== null) {
    const page = await service.json<{ records: AuditRecordJson[]; next: string | null }>('GET', '/api/v1/audit', {
      ...(filter.since !== undefined ? { since: new Date(filter.since).toISOString() } : {}),
      ...(filter.until !== undefined ? { until: new Date(filter.until).toISOString() } : {}),
      who: filter.who,
      action: filter.action,
      limit: String(Math.min(AUDIT_PAGE, want - records.length)),
      ...(cursor ? { cursor } : {}),
    });
    records.push(...page.records);
    cursor = page.next;
  }
  return records;
}

/** The audit chain's verdict (`mailsluice audit verify [--with-archive]`). */
export function auditVerifyThroughService(service: ControlClient, withArchive = false): Promise<AuditVerdict> {
  return service.json<AuditVerdict>('GET', '/api/v1/audit/verify', withArchive ? { withArchive: 'true' } : {});
}

/** Moves old audit records to the archive files (`mailsluice audit prune`); the service records the request. */
export function auditPruneThroughService(service: ControlClient, keepDays: number | undefined): Promise<PruneReport> {
  return service.json<PruneReport>('POST', '/api/v1/audit/prune', undefined, keepDays !== undefined ? { keepDays } : {});
}

/** A new token (`mailsluice token create`); recorded by the service. */
export function tokenCreateThroughService(service: ControlClient, name: string, role: Role): Promise<CreatedToken> {
  return service.json<CreatedToken>('POST', '/api/v1/tokens', undefined, { name, role });
}

/** Every token as the store lists it (`mailsluice token list`). */
export async function tokenListThroughService(service: ControlClient): Promise<TokenInfo[]> {
  const { tokens } = await service.json<{ tokens: Array<{ name: string; role: Role; created: string; lastUsed: string | null }> }>('GET', '/api/v1/tokens');
  return tokens.map((t) => ({ name: t.name, role: t.role, createdAt: Date.parse(t.created), lastUsedAt: t.lastUsed === null ? null : Date.parse(t.lastUsed) }));
}

/** Revokes `name` (`mailsluice token revoke`): `TOKEN_NOT_FOUND` when there is none. */
export async function tokenRevokeThroughService(service: ControlClient, name: string): Promise<void> {
  await service.json('DELETE', `/api/v1/tokens/${encodeURIComponent(name)}`);
}

/** Places a hold (`mailsluice hold place`); the service records it, as the principal `local:<user>`. */
export function holdPlaceThroughService(service: ControlClient, request: HoldRequest): Promise<HoldJson> {
  return service.json<HoldJson>('POST', '/api/v1/holds', undefined, { name: request.name, reason: request.reason, query: request.query ?? null, ids: [...(request.ids ?? [])] });
}

/** Releases a hold (`mailsluice hold release`); the service records it. */
export function holdReleaseThroughService(service: ControlClient, name: string, reason: string): Promise<HoldJson> {
  return service.json<HoldJson>('POST', `/api/v1/holds/${encodeURIComponent(name)}/release`, undefined, { reason });
}

/** The holds (`mailsluice hold list [--all]`). */
export async function holdListThroughService(service: ControlClient, all: boolean): Promise<HoldJson[]> {
  return (await service.json<{ holds: HoldJson[] }>('GET', '/api/v1/holds', all ? { all: 'true' } : {})).holds;
}

/** One hold, or null when there is none of that name (`mailsluice hold show`). */
export async function holdGetThroughService(service: ControlClient, name: string): Promise<HoldJson | null> {
  try {
    return await service.json<HoldJson>('GET', `/api/v1/holds/${encodeURIComponent(name)}`);
  } catch (err) {
    if (err instanceof MailsluiceError && err.code === 'HOLD_NOT_FOUND') return null;
    throw err;
  }
}

/** The running service's connections, without a secret (`mailsluice connections list`). */
export async function connectionsThroughService(service: ControlClient): Promise<ConnectionSettings[]> {
  return (await service.json<{ connections: ConnectionSettings[] }>('GET', '/api/v1/connections')).connections;
}

/** A connection's own log file as it is (`mailsluice logs`); "" when none was written. */
export async function logThroughService(service: ControlClient, name: string): Promise<string> {
  const res = await service.stream(`/api/v1/connections/${encodeURIComponent(name)}/log/download`);
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** What `deliveries retry` asks for: dead deliveries by id, or every dead one (of a route). */
export type RetryRequest = { ids: string[] } | { allDead: true; route?: string };

/** A delivery id's route (`<connection>.<route>.<message id>`; system names hold no dot), or null. */
function routeOf(id: string): string | null {
  return /^[A-Za-z0-9_]+\.([A-Za-z0-9_]+)\.[0-9]+$/.exec(id)?.[1] ?? null;
}

/**
 * Puts dead deliveries back to pending through the service's `POST
 * /api/v1/routes/{name}/deliveries/retry`, one request (and one audit record) per route; answers
 * the ids replayed. A route the service does not know replays nothing (its deliveries stay as
 * they are: no dispatcher of this service would deliver them).
 */
export async function retryThroughService(service: ControlClient, req: RetryRequest): Promise<string[]> {
  const retry = async (route: string, ids?: string[]): Promise<string[]> => {
    try {
      const r = await service.json<{ ids: string[] }>('POST', `/api/v1/routes/${encodeURIComponent(route)}/deliveries/retry`, undefined, ids ? { ids } : undefined);
      return r.ids;
    } catch (err) {
      if (err instanceof MailsluiceError && err.code === 'API_NOT_FOUND') return [];
      throw err;
    }
  };
  const replayed: string[] = [];
  if ('ids' in req) {
    const byRoute = new Map<string, string[]>();
    for (const id of req.ids) {
      const route = routeOf(id);
      if (route !== null) byRoute.set(route, [...(byRoute.get(route) ?? []), id]);
    }
    for (const [route, ids] of byRoute) replayed.push(...(await retry(route, ids)));
    return replayed;
  }
  const routes = req.route !== undefined ? [req.route] : (await service.json<{ routes: Array<{ name: string }> }>('GET', '/api/v1/routes')).routes.map((r) => r.name);
  for (const route of routes) replayed.push(...(await retry(route)));
  return replayed;
}

/** `purge` through the service (`POST /api/v1/archive/purge`): the service purges (or lists, dry) and records it. */
export function purgeThroughService(service: ControlClient, body: { dryRun: boolean; asOf?: string }): Promise<PurgeReport> {
  return service.json<PurgeReport>('POST', '/api/v1/archive/purge', undefined, body);
}
