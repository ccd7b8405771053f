/**
 * What applying the configuration again plans (ADR 0024), from two validated files: connections
 * compared by their resolved settings, a disabled one stopped and an enabled one started, routes
 * and the dispatcher's settings, and the settings that wait for a restart kept at their running
 * values in the configuration applied.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { checkConfigText, type Config } from '../../src/config/loader.js';
import { planReload } from '../../src/app/reload-plan.js';

const conn = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name,
  protocol: 'imap',
  host: '127.0.0.1',
  auth: { type: 'basic', username: name, password: 'pw' },
  ...extra,
});

function config(c: Record<string, unknown>): Config {
  const { config: out, problems } = checkConfigText(stringify({ dataDir: '/tmp/ms-plan', ...c }));
  assert.deepEqual(problems, []);
  return out!;
}

test('connections: a changed one restarts, new and enabled ones start, removed and disabled ones stop, unchanged ones are left', () => {
  const running = config({ connections: [conn('a'), conn('b'), conn('c'), conn('d', { enabled: false })] });
  const next = config({ connections: [conn('a', { pollIntervalMs: 5000 }), conn('b'), conn('c', { enabled: false }), conn('d'), conn('e')] });
  const plan = planReload(running, next);
  assert.deepEqual(plan.restart.map((c) => c.name), ['a']);
  assert.deepEqual(plan.start.map((c) => c.name), ['d', 'e']);
  assert.deepEqual(plan.stop, ['c']);
  assert.equal(plan.restart[0]!.pollIntervalMs, 5000);
  assert.deepEqual([plan.routesChanged, plan.dispatcherChanged, plan.waitingForRestart], [false, false, []]);
  assert.equal(plan.applied.connections.length, 5);
  // Compared resolved: another password is a change, as is a folder added.
  const secret = planReload(running, config({ connections: [conn('a', { auth: { type: 'basic', username: 'a', password: 'new' } }), conn('b', { mailbox: ['INBOX', 'Journal'] }), conn('c'), conn('d', { enabled: false })] }));
  assert.deepEqual(secret.restart.map((c) => c.name), ['a', 'b']);
});

test('routes and the dispatcher settings change the dispatcher; dataDir, buses, api and logging wait for a restart at their running values', () => {
  const route = { name: 'r', connection: 'a', scenario: [{ action: 'archive' }] };
  const running = config({ connections: [conn('a')], routes: [route] });
  const filtered = planReload(running, config({ connections: [conn('a')], routes: [{ ...route, filter: { subject: 'x' } }] }));
  assert.deepEqual([filtered.routesChanged, filtered.dispatcherChanged], [true, true]);
  const retry = planReload(running, config({ connections: [conn('a')], routes: [route], busConcurrency: 8, deliveryRetry: { baseMs: 10 } }));
  assert.deepEqual([retry.routesChanged, retry.dispatcherChanged, retry.applied.busConcurrency], [false, true, 8]);

  const next = config({ dataDir: '/tmp/elsewhere', buses: 8, connections: [conn('a')], routes: [route], api: { listen: '127.0.0.1:9999', metricsOpen: true }, logging: { keepFiles: 1 } });
  const plan = planReload(running, next);
  assert.deepEqual(plan.waitingForRestart, ['dataDir', 'buses', 'api.listen', 'api.metricsOpen', 'api.publicUrl', 'logging.keepFiles']);
  assert.deepEqual([plan.applied.dataDir, plan.applied.buses, plan.applied.api, plan.applied.logging], [running.dataDir, running.buses, running.api, running.logging]);
  assert.deepEqual([plan.start, plan.restart, plan.stop, plan.routesChanged, plan.alertsChanged], [[], [], [], false, false]);
});

test('the alerts apply live: a changed alerts section is in the configuration applied, not waiting for a restart', () => {
  const running = config({ connections: [conn('a')] });
  const alerts = { resendMinutes: 5, channels: [{ name: 'hook', type: 'webhook', url: 'http://127.0.0.1:1/h' }], rules: [{ name: 'dead', kind: 'dead-letters', channels: ['hook'] }] };
  const plan = planReload(running, config({ connections: [conn('a')], alerts }));
  assert.deepEqual([plan.alertsChanged, plan.waitingForRestart], [true, []]);
  assert.equal(plan.applied.alerts.resendMinutes, 5);
  assert.deepEqual(plan.applied.alerts.rules.map((r) => r.name), ['dead']);
  assert.equal(planReload(running, config({ connections: [conn('a')] })).alertsChanged, false);
});
