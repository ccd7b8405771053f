/** The audit log's calls (`src/api/routes/audit.ts`): list newest first with filters, verify, prune. */
import type { Schemas } from './api-types.js';
import { call } from './api.js';

/** One record as the API lists it. */
export type AuditRecord = Schemas['AuditRecord'];

/** What the list is narrowed to; every field optional (an empty string is no filter). */
export interface AuditFilters {
  who?: string;
  action?: string;
  /** ISO date-times. */
  since?: string;
  until?: string;
}

/** The chain's verdict (`GET /api/v1/audit/verify`). */
export type AuditVerdict = Schemas['AuditVerdict'];

/** Records per page the console asks for. */
export const AUDIT_PAGE = 50;

/** One page of records, newest first; `cursor` is the `next` of the page before. */
export function listAudit(filters: AuditFilters, cursor: string | null): Promise<{ records: AuditRecord[]; next: string | null }> {
  const q = new URLSearchParams({ order: 'newest', limit: String(AUDIT_PAGE) });
  for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
  if (cursor) q.set('cursor', cursor);
  return call('GET', `/api/v1/audit?${q}`);
}

/** Walks the chain (and the archive files with `withArchive`). */
export function verifyAudit(withArchive: boolean): Promise<AuditVerdict> {
  return call('GET', `/api/v1/audit/verify${withArchive ? '?withArchive=true' : ''}`);
}

/** Moves records older than `keepDays` (absent: the configured audit.keepDays) to the archive files (admin). */
export function pruneAudit(keepDays: number | undefined): Promise<Record<string, unknown>> {
  return call('POST', '/api/v1/audit/prune', keepDays !== undefined ? { keepDays } : {});
}
