/**
 * The alerts' state across a change of rules and across a restart (ADR 0026, amended): with a
 * fake clock, a rule that stays keeps firing without a second alert, a new rule starts unknown, a
 * removed one is dropped without a "resolved", a new resend interval applies to the next
 * reminder; a book restored from a snapshot neither re-sends a firing alert before its interval
 * nor forgets to send "resolved" for one that stopped holding meanwhile, and the blank status of a
 * restarted runner resolves nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlertBook, type AlertReadings, type AlertRule, type RunnerReading } from '../../src/core/alerts/index.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 1);

function runner(name: string, s: Partial<RunnerReading['status']> = {}): RunnerReading {
  return { connection: name, status: { name, state: 'waiting', lastError: null, lastSuccessAt: T0, ...s } };
}

const dead: AlertRule = { name: 'dead', kind: 'dead-letters', enabled: true, channels: ['hook'] };
const disk: AlertRule = { name: 'disk', kind: 'disk-space', enabled: true, channels: ['hook'], freePercentBelow: 10 };
const failing: AlertRule = { name: 'down', kind: 'connection-failing', enabled: true, channels: ['hook'], minutes: 5 };
const deadOnes: AlertReadings = { deadLetters: { crm: 2 }, disk: { freePercent: 50, freeBytes: 1e9 } };

function sendAll(book: AlertBook, at: number, reads: AlertReadings): Array<[string, string, string[]]> {
  const sends = book.check(reads, at);
  for (const s of sends) for (const ch of s.channels) book.sent(s.notification.rule, ch, at);
  return sends.map((s) => [s.notification.rule, s.notification.event, s.channels]);
}

test('a new rule set: kept rules keep firing without a new alert, new ones start unknown, removed ones are dropped silently', () => {
  const book = new AlertBook([dead], 60 * MIN);
  assert.deepEqual(sendAll(book, T0, deadOnes), [['dead', 'firing', ['hook']]]);
  const change = book.reconfigure([{ ...dead, channels: ['hook', 'mail'] }, disk], 60 * MIN);
  assert.deepEqual(change, { added: ['disk'], removed: [], kept: ['dead'] });
  const [d, k] = book.states();
  assert.deepEqual([d!.state, d!.since, d!.lastSentAt, d!.channels], ['firing', T0, T0, ['hook', 'mail']]);
  assert.equal(k!.state, 'unknown');
  // The next check: the kept rule owes nothing (no duplicate, the new channel waits for the reminder); the new one is ok.
  assert.deepEqual(sendAll(book, T0 + MIN, deadOnes), []);
  assert.equal(book.states()[1]!.state, 'ok');
  // The reminder goes to both channels.
  assert.deepEqual(sendAll(book, T0 + 61 * MIN, deadOnes), [['dead', 'reminder', ['hook', 'mail']]]);
  // Removed: dropped, nothing sent for it, even as its condition ends.
  assert.deepEqual(book.reconfigure([disk], 60 * MIN), { added: [], removed: ['dead'], kept: ['disk'] });
  assert.deepEqual(sendAll(book, T0 + 62 * MIN, { deadLetters: {}, disk: deadOnes.disk }), []);
  assert.deepEqual(book.states().map((s) => s.rule), ['disk']);
});

test('a rule whose condition changed starts over; a new resend interval applies to the next reminder', () => {
  const book = new AlertBook([failing, dead], 60 * MIN);
  sendAll(book, T0, deadOnes);
  const change = book.reconfigure([{ ...failing, minutes: 1 }, dead], 10 * MIN);
  assert.deepEqual(change, { added: ['down'], removed: ['down'], kept: ['dead'] });
  assert.equal(book.states()[0]!.state, 'unknown');
  assert.deepEqual(sendAll(book, T0 + 9 * MIN, deadOnes), [], 'the new interval (10 min) has not passed');
  assert.deepEqual(sendAll(book, T0 + 10 * MIN, deadOnes), [['dead', 'reminder', ['hook']]]);
});

test('owed channels the new rule no longer names are no longer owed', () => {
  const book = new AlertBook([{ ...dead, channels: ['hook', 'mail'] }], 60 * MIN);
  const sends = book.check(deadOnes, T0);
  book.sent('dead', 'hook', T0);
  book.sent('dead', 'mail', T0, { code: 'ALERT_SEND_FAILED', message: 'relay down' });
  assert.deepEqual(sends[0]!.channels, ['hook', 'mail']);
  assert.deepEqual(book.states()[0]!.owed, ['mail']);
  book.reconfigure([dead], 60 * MIN);
  assert.deepEqual(book.states()[0]!.owed, []);
  assert.deepEqual(book.check(deadOnes, T0 + MIN), []);
});

test('restored after a restart: a rule still firing is not sent again before its interval; one that ended sends resolved once', () => {
  const before = new AlertBook([dead, disk], 30 * MIN);
  sendAll(before, T0, { deadLetters: { crm: 1 }, disk: { freePercent: 5, freeBytes: 1e6 } });
  // Through JSON, as the state file keeps it.
  const saved = JSON.parse(JSON.stringify(before.snapshot()));
  const after = new AlertBook([dead, disk], 30 * MIN);
  assert.deepEqual(after.restore(saved), ['dead', 'disk']);
  // The disk was freed while the service was down; the dead letter is still there.
  const reads: AlertReadings = { deadLetters: { crm: 1 }, disk: { freePercent: 40, freeBytes: 1e9 } };
  assert.deepEqual(sendAll(after, T0 + 5 * MIN, reads), [['disk', 'resolved', ['hook']]]);
  assert.deepEqual(sendAll(after, T0 + 6 * MIN, reads), [], 'resolved once');
  assert.deepEqual(sendAll(after, T0 + 30 * MIN, reads), [['dead', 'reminder', ['hook']]], 'the reminder at the interval counted from the send before the restart');
  // A rule whose condition changed meanwhile is not resumed.
  const changed = new AlertBook([{ ...disk, freePercentBelow: 20 }], 30 * MIN);
  assert.deepEqual(changed.restore(saved), []);
  assert.equal(changed.states()[0]!.state, 'unknown');
});

test('restored: a restarted runner with no outcome yet neither resolves a failing rule nor fires it again', () => {
  const before = new AlertBook([failing], 60 * MIN);
  const err = (at: number) => ({ code: 'SOURCE_CONNECT_REFUSED', message: 'refused', at });
  sendAll(before, T0, { runners: [runner('journal', { state: 'backoff', lastSuccessAt: T0 - MIN, lastError: err(T0) })] });
  assert.deepEqual(sendAll(before, T0 + 6 * MIN, { runners: [runner('journal', { state: 'backoff', lastSuccessAt: T0 - MIN, lastError: err(T0 + 6 * MIN) })] }), [['down', 'firing', ['hook']]]);
  const after = new AlertBook([failing], 60 * MIN);
  after.restore(JSON.parse(JSON.stringify(before.snapshot())));
  // The new process's runner is connecting: no outcome yet.
  const fresh = runner('journal', { state: 'connecting', lastSuccessAt: null });
  assert.deepEqual(sendAll(after, T0 + 8 * MIN, { runners: [fresh] }), []);
  assert.equal(after.states()[0]!.state, 'firing');
  // Its first cycle fails too: still the same alert, no new firing.
  assert.deepEqual(sendAll(after, T0 + 9 * MIN, { runners: [runner('journal', { state: 'backoff', lastSuccessAt: null, lastError: err(T0 + 9 * MIN) })] }), []);
  assert.match(after.states()[0]!.summary!, /journal failing for 9 min/, 'measured from the first failure before the restart');
  // Its first success resolves it.
  assert.deepEqual(sendAll(after, T0 + 10 * MIN, { runners: [runner('journal', { lastError: err(T0 + 9 * MIN), lastSuccessAt: T0 + 10 * MIN })] }), [['down', 'resolved', ['hook']]]);
});

test('restored: a certificate and a last success seen before the restart count until the runner reports', () => {
  const cert: AlertRule = { name: 'cert', kind: 'certificate-expiry', enabled: true, channels: ['hook'], days: 30 };
  const silent: AlertRule = { name: 'quiet', kind: 'connection-silent', enabled: true, channels: ['hook'], minutes: 60 };
  const before = new AlertBook([cert, silent], 120 * MIN);
  assert.deepEqual(sendAll(before, T0, { runners: [runner('journal', { certificateExpiresAt: T0 + 86_400_000 })] }), [['cert', 'firing', ['hook']]]);
  const after = new AlertBook([cert, silent], 120 * MIN);
  after.restore(JSON.parse(JSON.stringify(before.snapshot())));
  const fresh = runner('journal', { state: 'connecting', lastSuccessAt: null });
  assert.deepEqual(sendAll(after, T0 + 2 * MIN, { runners: [fresh] }), []);
  assert.deepEqual(after.states().map((s) => s.state), ['firing', 'ok']);
  // Silent is counted from the last success before the restart, not from the restart.
  assert.deepEqual(sendAll(after, T0 + 61 * MIN, { runners: [fresh] }), [['quiet', 'firing', ['hook']]]);
});
