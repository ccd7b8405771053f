/** The legal holds' typed calls (`GET /api/v1/holds`, `POST /api/v1/holds`, `POST …/{name}/release`). */
import { call, seg } from './api.js';

/** A hold as the API shows it. */
export interface Hold {
  name: string;
  reason: string;
  query: string | null;
  ids: number[];
  placedBy: string;
  placedAt: string;
  active: boolean;
  releasedBy: string | null;
  releasedAt: string | null;
  releaseReason: string | null;
  heldNow: number;
}

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
