/** The legal holds' typed calls (`GET /api/v1/holds`, `POST /api/v1/holds`, `POST …/{name}/release`). */
import type { Schemas } from './api-types.js';
import { call, seg } from './api.js';

/** A hold as the API shows it. */
export type Hold = Schemas['Hold'];

/** Every hold, active first, released ones too (auditor). */
export async function listHolds(): Promise<Hold[]> {
  return (await call<{ holds: Hold[] }>('GET', '/api/v1/holds?all=true')).holds;
}

/** Places a hold (admin); a 400 lists its problems by field (`name`, `reason`, `query`, `ids`). */
export function placeHold(body: { name: string; reason: string; query: string | null; ids: number[] }): Promise<Hold> {
  return call<Hold>('POST', '/api/v1/holds', body);
}

/** Releases a hold with a reason (admin). */
export function releaseHold(name: string, reason: string): Promise<Hold> {
  return call<Hold>('POST', `/api/v1/holds/${seg(name)}/release`, { reason });
}
