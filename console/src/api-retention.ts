/** Retention's typed calls (`GET /api/v1/archive/retention`, viewer; `POST /api/v1/archive/purge`, admin). */
import { call } from './api.js';

/** A message a purge removed, or a dry run would (no subject, no address). */
export interface PurgeItem {
  id: number;
  connection: string;
  sha256: string;
  size: number;
  takenAt: string;
  receivedDate: string | null;
  /** The rule that decided; `(default)` for the default. */
  rule: string;
}

/** What a purge did, or a dry run would do. */
export interface PurgeReport {
  dryRun: boolean;
  asOf: string;
  startedAt: string;
  seconds: number;
  scanned: number;
  expired: number;
  purged: number;
  bytesPurged: number;
  blobsRemoved: number;
  keptByHolds: number;
  holds: Record<string, number>;
  keptPending: number;
  auditRecords: number[];
  searchRowsSettled: number;
  space: { packsRewritten: number; bytesBefore: number; bytesAfter: number } | null;
  /** What went (or would go): the first 1,000 only, so fewer than `purged` when there were more. */
  items?: PurgeItem[];
  /** A scheduled purge that failed: its code and sentence. */
  error?: string;
}

/** A retention rule as configured. */
export interface RetentionRule {
  name: string;
  keep: string;
  since: 'archived' | 'received';
  match: { connection?: string[]; route?: string[]; address?: string[]; domain?: string[] };
}

/** The rules, the last purge and when the next runs. */
export interface RetentionView {
  everyHours: number;
  default: string | null;
  rules: RetentionRule[];
  lastPurge: PurgeReport | null;
  nextPurgeAt: string | null;
}

/** The retention settings with the last and the next purge (viewer). */
export function getRetention(): Promise<RetentionView> {
  return call<RetentionView>('GET', '/api/v1/archive/retention');
}

/** A purge now (admin), or with `dryRun` what would go, judged at `asOf` (ISO instant) if given. */
export function purgeArchive(body: { dryRun: boolean; asOf?: string }): Promise<PurgeReport> {
  return call<PurgeReport>('POST', '/api/v1/archive/purge', body);
}
