/**
 * Alerts (issue 14, item 6; ADR 0026): the core's rules and state with a fake clock (the time is
 * a number handed in), and the `alerts` section of the configuration with its cross-checks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlertBook, alertMailBytes, type AlertReadings, type AlertRule, type RunnerReading } from '../../src/core/alerts/index.js';
import { checkConfigText } from '../../src/config/loader.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 1);

function runner(name: string, s: Partial<RunnerReading['status']> = {}, connection = name): RunnerReading {
  return { connection, status: { name, state: 'waiting', lastError: null, lastSuccessAt: T0, ...s } };
}

const failing: AlertRule = { name: 'down', kind: 'connection-failing', enabled: true, channels: ['hook', 'mail'], minutes: 10 };

test('connection-failing: fires once after minutes of failure, reminds every resend interval, resolves once', () => {
  const book = new AlertBook([failing], 60 * MIN);
  assert.deepEqual(book.check({ runners: [runner('journal')] }, T0), [], 'healthy: nothing owed');
  assert.equal(book.states()[0]!.state, 'ok');
  const err = { code: 'SOURCE_CONNECT_REFUSED', message: 'refused', at: T0 + MIN };
  const down = (now: number): AlertReadings => ({ runners: [runner('journal', { state: 'backoff', lastError: { ...err, at: now } })] });
  assert.deepEqual(book.check(down(T0 + MIN), T0 + MIN), [], 'failing for less than 10 minutes');
  assert.deepEqual(book.check(down(T0 + 5 * MIN), T0 + 5 * MIN), []);
  // Measured from the first failure seen (T0 + 1 min), not from the latest error.
  const sends = book.check(down(T0 + 11 * MIN), T0 + 11 * MIN);
  assert.equal(sends.length, 1);
  assert.deepEqual(sends[0]!.channels, ['hook', 'mail']);
  assert.equal(sends[0]!.notification.event, 'firing');
  assert.match(sends[0]!.notification.summary, /journal failing for 10 min \(backoff; last error SOURCE_CONNECT_REFUSED: refused\)/);
  book.sent('down', 'hook', T0 + 11 * MIN);
  book.sent('down', 'mail', T0 + 11 * MIN, { code: 'ALERT_SEND_FAILED', message: 'relay down' });
  let s = book.states()[0]!;
  assert.deepEqual([s.state, s.since, s.lastSentAt, s.owed, s.lastError?.channel], ['firing', T0 + 11 * MIN, T0 + 11 * MIN, ['mail'], 'mail']);
  // The failed channel is owed again at the next check, the other is not.
  const retry = book.check(down(T0 + 12 * MIN), T0 + 12 * MIN);
  assert.deepEqual(retry.map((x) => [x.notification.event, x.channels]), [['firing', ['mail']]]);
  book.sent('down', 'mail', T0 + 12 * MIN);
  assert.deepEqual(book.check(down(T0 + 30 * MIN), T0 + 30 * MIN), [], 'nothing before the resend interval');
  const reminder = book.check(down(T0 + 72 * MIN), T0 + 72 * MIN);
  assert.deepEqual(reminder.map((x) => [x.notification.event, x.channels]), [['reminder', ['hook', 'mail']]]);
  assert.equal(reminder[0]!.notification.since, T0 + 11 * MIN);
  book.sent('down', 'hook', T0 + 72 * MIN);
  book.sent('down', 'mail', T0 + 72 * MIN);
  // A successful cycle after the errors: resolved.
  const ok = book.check({ runners: [runner('journal', { state: 'waiting', lastError: { ...err, at: T0 + 72 * MIN }, lastSuccessAt: T0 + 73 * MIN })] }, T0 + 74 * MIN);
  assert.deepEqual(ok.map((x) => [x.notification.event, x.notification.since]), [['resolved', T0 + 11 * MIN]]);
  assert.match(ok[0]!.notification.summary, /^resolved: /);
  s = book.states()[0]!;
  assert.deepEqual([s.state, s.since], ['ok', T0 + 74 * MIN]);
});

test('a channel that keeps failing does not hold back the reminders of one that works', () => {
  const book = new AlertBook([{ name: 'dead', kind: 'dead-letters', enabled: true, channels: ['hook', 'mail'] }], 10 * MIN);
  const dead = { deadLetters: { r: 1 } };
  book.check(dead, T0);
  book.sent('dead', 'hook', T0);
  book.sent('dead', 'mail', T0, { code: 'ALERT_SEND_FAILED', message: 'down' });
  for (let m = 1; m < 10; m++) {
    const owed = book.check(dead, T0 + m * MIN);
    assert.deepEqual(owed.map((x) => [x.notification.event, x.channels]), [['firing', ['mail']]], `minute ${m}: the failed channel is tried again`);
    book.sent('dead', 'mail', T0 + m * MIN, { code: 'ALERT_SEND_FAILED', message: 'down' });
  }
  const reminder = book.check(dead, T0 + 10 * MIN);
  assert.deepEqual(reminder.map((x) => [x.notification.event, x.channels]), [['reminder', ['hook', 'mail']]]);
});

test('a rule for one connection ignores the others; a runner per folder counts under its connection', () => {
  const book = new AlertBook([{ ...failing, connection: 'journal', minutes: 0.05 }], MIN);
  const err = { code: 'SOURCE_NETWORK', message: 'cut', at: T0 + MIN };
  const other = book.check({ runners: [runner('other', { state: 'error', lastError: err, lastSuccessAt: null })] }, T0 + MIN);
  assert.deepEqual(other, []);
  book.check({ runners: [runner('journal/Archive', { state: 'error', lastError: err, lastSuccessAt: null }, 'journal')] }, T0 + MIN);
  const fired = book.check({ runners: [runner('journal/Archive', { state: 'error', lastError: err, lastSuccessAt: null }, 'journal')] }, T0 + MIN + 3000);
  assert.equal(fired.length, 1, 'fractional minutes: 0.05 is 3 s');
  assert.match(fired[0]!.notification.summary, /^journal\/Archive failing for 3 s/);
});

test('connection-silent: no successful cycle for minutes, counted from when the runner was first seen when it never had one', () => {
  const book = new AlertBook([{ name: 'quiet', kind: 'connection-silent', enabled: true, channels: ['hook'], minutes: 30 }], 60 * MIN);
  assert.deepEqual(book.check({ runners: [runner('j', { lastSuccessAt: null, state: 'connecting' })] }, T0), []);
  assert.deepEqual(book.check({ runners: [runner('j', { lastSuccessAt: null, state: 'connecting' })] }, T0 + 29 * MIN), []);
  const sends = book.check({ runners: [runner('j', { lastSuccessAt: null, state: 'connecting' })] }, T0 + 30 * MIN);
  assert.match(sends[0]!.notification.summary, /j: no successful cycle for 30 min \(connecting\)/);
});

test('dead letters: fires while any exist (of the route named), resolves when none is left', () => {
  const book = new AlertBook(
    [
      { name: 'dead', kind: 'dead-letters', enabled: true, channels: ['hook'] },
      { name: 'deadB', kind: 'dead-letters', enabled: true, channels: ['hook'], route: 'b' },
    ],
    60 * MIN,
  );
  const first = book.check({ deadLetters: { a: 2, b: 0 } }, T0);
  assert.deepEqual(first.map((s) => s.notification.rule), ['dead']);
  assert.match(first[0]!.notification.summary, /dead letters: a 2/);
  book.sent('dead', 'hook', T0);
  assert.deepEqual(book.check({ deadLetters: { a: 3, b: 0 } }, T0 + MIN), [], 'still firing: no new notification before the resend interval');
  assert.deepEqual(book.check({ deadLetters: { a: 0, b: 0 } }, T0 + 2 * MIN).map((s) => s.notification.event), ['resolved']);
});

test('a missing reading leaves the state as it was; a disabled rule is never checked', () => {
  const book = new AlertBook(
    [
      { name: 'disk', kind: 'disk-space', enabled: true, channels: ['hook'], freePercentBelow: 10 },
      { name: 'chain', kind: 'audit-chain-broken', enabled: false, channels: ['hook'] },
    ],
    60 * MIN,
  );
  const fired = book.check({ disk: { freePercent: 4.5, freeBytes: 1e9 }, audit: { ok: false, problem: 'record 3 altered' } }, T0);
  assert.deepEqual(fired.map((s) => s.notification.rule), ['disk']);
  assert.match(fired[0]!.notification.summary, /4\.5 % free \(954 MiB\); the rule fires below 10 %/);
  book.sent('disk', 'hook', T0);
  assert.deepEqual(book.check({}, T0 + MIN), [], 'unknown is not resolved');
  assert.equal(book.states()[0]!.state, 'firing');
  assert.equal(book.states()[1]!.state, 'unknown');
});

test('certificate expiry and the audit chain', () => {
  const book = new AlertBook(
    [
      { name: 'cert', kind: 'certificate-expiry', enabled: true, channels: ['hook'], days: 14 },
      { name: 'chain', kind: 'audit-chain-broken', enabled: true, channels: ['hook'] },
    ],
    60 * MIN,
  );
  const later = T0 + 30 * 86_400_000;
  assert.deepEqual(book.check({ runners: [runner('j', { certificateExpiresAt: later })], audit: { ok: true } }, T0), []);
  const soon = book.check({ runners: [runner('j', { certificateExpiresAt: T0 + 86_400_000 })], audit: { ok: false, problem: 'record 7: altered' } }, T0 + MIN);
  assert.deepEqual(soon.map((s) => s.notification.rule), ['cert', 'chain']);
  assert.match(soon[0]!.notification.summary, /j: the server certificate expires 2026-01-02T00:00:00\.000Z/);
  assert.match(soon[1]!.notification.summary, /the audit chain is broken: record 7: altered/);
});

test('a test notification carries the rule and what it found, and changes nothing', () => {
  const book = new AlertBook([failing], 60 * MIN);
  assert.equal(book.test('nope', T0), undefined);
  const t = book.test('down', T0)!;
  assert.deepEqual([t.notification.event, t.channels], ['test', ['hook', 'mail']]);
  assert.match(t.notification.summary, /test of alert rule down \(connection-failing\); now: not checked yet/);
  assert.equal(book.states()[0]!.state, 'unknown');
});

const CHANNELS = `
  channels:
    - { name: hook, type: webhook, url: "http://127.0.0.1:9/h", secret: { env: HOOK_SECRET } }
    - { name: mail, type: email, relay: { host: 127.0.0.1, protocol: lmtp, auth: { user: u, pass: { env: MAIL_PASS } } }, from: a@example.test, to: [ops] }`;

test('config: the alerts section, its defaults and secrets', () => {
  const none = checkConfigText('connections: []\n').config!;
  assert.deepEqual(none.alerts, { checkSeconds: 30, resendMinutes: 60, channels: [], rules: [] });
  const { config, problems } = checkConfigText(`alerts:\n  resendMinutes: 0.1\n${CHANNELS}\n  rules:\n    - { name: dead, kind: dead-letters, channels: [hook, mail] }\n    - { name: slow, kind: connection-failing, minutes: 0.05, channels: [hook] }\n`, { env: { HOOK_SECRET: 'whsec_abc', MAIL_PASS: 'pw' } });
  assert.deepEqual(problems, []);
  const a = config!.alerts;
  assert.equal(a.resendMinutes, 0.1);
  assert.deepEqual(a.channels[0], { name: 'hook', type: 'webhook', url: 'http://127.0.0.1:9/h', secret: 'whsec_abc', timeoutMs: 10000 });
  assert.deepEqual((a.channels[1] as { relay: unknown }).relay, { host: '127.0.0.1', port: 24, protocol: 'lmtp', security: 'starttls-if-available', tls: { verify: true }, auth: { user: 'u', pass: 'pw' } });
  assert.deepEqual(a.rules[1], { name: 'slow', kind: 'connection-failing', enabled: true, channels: ['hook'], minutes: 0.05 });
});

test('config: a rule naming an unknown channel, connection or route is a problem naming its path', () => {
  const text = `connections: []\nroutes: []\nalerts:\n${CHANNELS}\n  rules:\n    - { name: a, kind: connection-failing, connection: journal, channels: [hook, pager] }\n    - { name: a, kind: dead-letters, route: nope, channels: [mail] }\n`;
  const got = checkConfigText(text, { env: { HOOK_SECRET: 's', MAIL_PASS: 'p' } }).problems.map((p) => `${p.path}: ${p.message}`);
  assert.ok(got.includes('alerts.rules[0].channels[1]: no alert channel named "pager" (alerts.channels)'), got.join('\n'));
  assert.ok(got.includes('alerts.rules[0].connection: no connection named "journal"'), got.join('\n'));
  assert.ok(got.includes('alerts.rules[1].name: duplicate rule name "a"'), got.join('\n'));
  assert.ok(got.includes('alerts.rules[1].route: no route named "nope"'), got.join('\n'));
  const shape = checkConfigText(`alerts:\n  rules:\n    - { name: c, kind: disk-space, freePercentBelow: 0, channels: [hook] }\n    - { name: d, kind: cpu, channels: [hook] }\n`).problems.map((p) => `${p.path}: ${p.message}`);
  assert.ok(shape.some((p) => p.startsWith('alerts.rules[0].freePercentBelow: must be above 0')), shape.join('\n'));
  assert.ok(shape.some((p) => p.startsWith('alerts.rules[1].kind')), shape.join('\n'));
});

test('an alert mail: plain ASCII readable as 7bit; a summary in another script as base64 UTF-8 that decodes to it', () => {
  const n = { rule: 'down', kind: 'connection-failing' as const, event: 'firing' as const, summary: 'journal failing for 60 s', since: 0, at: Date.UTC(2026, 11, 6) };
  const stamp = { messageId: 'alert-1@mailsluice.invalid', date: new Date(Date.UTC(2026, 11, 6)) };
  const plain = new TextDecoder().decode(alertMailBytes(n, 'ops@example.test', ['a@example.test'], stamp));
  assert.match(plain, /^Subject: \[mailsluice\] FIRING down \(connection-failing\)\r$/m);
  assert.match(plain, /^Content-Transfer-Encoding: 7bit\r$/m);
  assert.match(plain, /\r\n\r\nAlert rule: down \(connection-failing\)\r\n[\s\S]*journal failing for 60 s\r\n/);
  const ru = new TextDecoder().decode(alertMailBytes({ ...n, summary: 'журнал: сервер не отвечает' }, 'ops@example.test', ['a@example.test'], stamp));
  assert.match(ru, /^Content-Transfer-Encoding: base64\r$/m);
  const body = ru.slice(ru.indexOf('\r\n\r\n') + 4);
  assert.ok(body.split('\r\n').every((l) => l.length <= 76), 'base64 lines of at most 76 characters');
  assert.match(Buffer.from(body.replace(/\r\n/g, ''), 'base64').toString('utf8'), /журнал: сервер не отвечает/);
});
