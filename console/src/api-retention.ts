/** Retention's typed calls (`GET /api/v1/archive/retention`, viewer; `POST /api/v1/archive/purge`, admin). */
import type { Schemas } from './api-types.js';
import { call } from './api.js';

/** A message a purge removed, or a dry run would (no subject, no address). */
export type PurgeItem = NonNullable<PurgeReport['items']>[number];

/** What a purge did, or a dry run would do. */
export type PurgeReport = Schemas['PurgeReport'];

/** A retention rule as configured. */
export type RetentionRule = RetentionView['rules'][number];

/** The rules, the last purge and when the next runs. */
export type RetentionView = Schemas['RetentionView'];

/** The retention settings with the last and the next purge (viewer). */
export function getRetention(): Promise<RetentionView> {
  return call<RetentionView>('GET', '/api/v1/archive/retention');
}

/** A purge now (admin), or with `dryRun` what would go, judged at `asOf` (ISO instant) if given. */
export function purgeArchive(body: { dryRun: boolean; asOf?: string }): Promise<PurgeReport> {
  return call<PurgeReport>('POST', '/api/v1/archive/purge', body);
}
