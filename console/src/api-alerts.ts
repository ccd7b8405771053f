/** The alerts' typed calls (`GET /api/v1/alerts`, `POST …/{rule}/test`, `PATCH …/{rule}`). */
import type { Schemas } from './api-types.js';
import { call, request, seg } from './api.js';

/** A rule with its state, as `GET /api/v1/alerts` lists it. */
export type Alert = Schemas['Alert'];

/** What a test notification did, per channel. */
export type AlertTest = Schemas['AlertTest'];

/** Every rule with its state (viewer). */
export async function listAlerts(): Promise<Alert[]> {
  return (await call<{ alerts: Alert[] }>('GET', '/api/v1/alerts')).alerts;
}

/** Sends a test notification of `rule` to its channels now (admin). */
export async function testAlert(rule: string): Promise<AlertTest> {
  return call<AlertTest>('POST', `/api/v1/alerts/${seg(rule)}/test`);
}

/** Changes `rule` in the configuration file by a JSON merge patch (admin); a 400 lists its problems by field. */
/** The rules and the configuration file's version (`ETag`), which an edit sends back as `If-Match`. */
export async function listAlertsVersioned(): Promise<{ alerts: Alert[]; etag: string | null }> {
  const res = await request('GET', '/api/v1/alerts');
  return { alerts: ((await res.json()) as { alerts: Alert[] }).alerts, etag: res.headers.get('etag') };
}

/** Changes a rule by a JSON merge patch against version `etag` (a change made meanwhile is a 409 CONFIG_CONFLICT). */
export async function patchAlert(rule: string, patch: Record<string, unknown>, etag: string | null): Promise<{ alert: Omit<Alert, 'state' | 'since' | 'summary' | 'lastSentAt' | 'lastError' | 'owed'>; applied: boolean }> {
  const res = await request('PATCH', `/api/v1/alerts/${seg(rule)}`, { body: patch, headers: etag ? { 'if-match': etag } : {} });
  return res.json();
}
