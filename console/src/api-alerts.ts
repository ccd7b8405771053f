/** The alerts' typed calls (`GET /api/v1/alerts`, `POST …/{rule}/test`, `PATCH …/{rule}`). */
import { call, seg } from './api.js';

/** The kinds of rule (`alerts.rules[].kind`). */
export type AlertKind = 'connection-failing' | 'connection-silent' | 'dead-letters' | 'disk-space' | 'certificate-expiry' | 'audit-chain-broken';

/** A rule with its state, as `GET /api/v1/alerts` lists it. */
export interface Alert {
  rule: string;
  kind: AlertKind;
  enabled: boolean;
  channels: string[];
  /** Its threshold (`minutes`, `days`, `freePercentBelow`) and subject (`connection`, `route`). */
  settings: Record<string, string | number>;
  state: 'ok' | 'firing' | 'unknown';
  since: string | null;
  summary: string | null;
  lastSentAt: string | null;
  lastError: { channel: string; code: string; message: string; at: string } | null;
  owed: string[];
}

/** What a test notification did, per channel. */
export interface AlertTest {
  rule: string;
  results: Array<{ channel: string; ok: boolean; code?: string; message?: string }>;
}

/** Every rule with its state (viewer). */
export async function listAlerts(): Promise<Alert[]> {
  return (await call<{ alerts: Alert[] }>('GET', '/api/v1/alerts')).alerts;
}

/** Sends a test notification of `rule` to its channels now (admin). */
export async function testAlert(rule: string): Promise<AlertTest> {
  return call<AlertTest>('POST', `/api/v1/alerts/${seg(rule)}/test`);
}

/** Changes `rule` in the configuration file by a JSON merge patch (admin); a 400 lists its problems by field. */
export async function patchAlert(rule: string, patch: Record<string, unknown>): Promise<{ alert: Omit<Alert, 'state' | 'since' | 'summary' | 'lastSentAt' | 'lastError' | 'owed'>; applied: boolean }> {
  return call('PATCH', `/api/v1/alerts/${seg(rule)}`, patch);
}
