/**
 * The POP3 connection test ("test connection"), against the real Dovecot: the steps in order for
 * each security mode, and for each kind of failure the failing step with its code, a sentence,
 * and no later step. The probe must change nothing on the server and never log the password.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type TestUser } from '../harness/dovecot.js';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { closedPort } from '../harness/imap-proxy.js';
import { makeMessage } from '../harness/messages.js';
import { probePop3 } from '../../src/adapters/source-pop3/pop3-probe.js';
import { checkConfigText, type ConnectionConfig } from '../../src/config/loader.js';
import type { Logger } from '../../src/core/ports/logger.js';

const dovecot = dovecotPerFile();

/** A logger that keeps every record, so a test can look for secrets in it. */
function recordingLogger(records: string[] = []): Logger & { records: string[] } {
  const log =
    (level: string, base: Record<string, unknown>) =>
    (msg: string, fields?: Record<string, unknown>): void => {
      records.push(JSON.stringify({ level, msg, ...base, ...fields }));
    };
  const make = (base: Record<string, unknown>): Logger & { records: string[] } => ({
    records,
    debug: log('debug', base),
    info: log('info', base),
    warn: log('warn', base),
    error: log('error', base),
    child: (fields) => make({ ...base, ...fields }),
  });
  return make({});
}

/** A connection as the config loader validates it. */
function connection(u: TestUser, extra: Record<string, unknown> = {}): ConnectionConfig {
  const entry = {
    name: 'journal',
    protocol: 'pop3',
    host: dovecot.host,
    port: dovecot.pop3Port,
    tlsPort: dovecot.pop3sPort,
    security: 'starttls',
    tls: { verify: true, ca: dovecot.caCertPem },
    auth: { type: 'basic', username: u.username, password: u.password },
    connectTimeoutMs: 5000,
    dataTimeoutMs: 5000,
    ...extra,
  };
  const r = checkConfigText(JSON.stringify({ connections: [entry] }));
  assert.deepEqual(r.problems, []);
  return r.config!.connections[0]!;
}

async function userWith(n: number): Promise<TestUser> {
  const u = await dovecot.createUser({ username: `dom\\probe${Math.random().toString(36).slice(2, 8)}` });
  if (n) await dovecot.loadMaildir(u.username, Array.from({ length: n }, (_, i) => makeMessage(i, { bodyBytes: 1000 })));
  return u;
}

function names(steps: Array<{ step: string; ok: boolean }>): string[] {
  return steps.map((s) => `${s.step}${s.ok ? '' : ' FAILED'}`);
}

describe('probePop3', { concurrency: true }, () => {
  test('starttls: every step passes in order, the count is STAT\'s, nothing changes on the server', async () => {
    const u = await userWith(3);
    const logger = recordingLogger();
    const r = await probePop3(connection(u), logger);
    assert.equal(r.ok, true, JSON.stringify(r.steps, null, 1));
    assert.deepEqual(names(r.steps), ['resolve', 'connect', 'greeting', 'capabilities', 'tls', 'auth', 'mailbox', 'count']);
    assert.equal(r.messages, 3);
    const by = Object.fromEntries(r.steps.map((s) => [s.step, s.detail]));
    assert.match(by.resolve!, /127\.0\.0\.1 is 127\.0\.0\.1/);
    assert.match(by.greeting!, /^\+OK /);
    assert.match(by.capabilities!, /STLS/);
    assert.match(by.tls!, /verified, after STLS/);
    assert.match(by.auth!, /logged in as .* with AUTH PLAIN/);
    assert.match(by.mailbox!, /single mailbox/);
    assert.match(by.count!, /^3 messages, \d+ bytes/);
    for (const s of r.steps) assert.ok(s.ms >= 0);
    assert.equal(await dovecot.messageCount(u.username), 3);
    assert.ok(!logger.records.some((l) => l.includes(u.password)), 'the password is never logged');
  });

  test('tls: the TLS step comes before the greeting, on the TLS port', async () => {
    const u = await userWith(1);
    const r = await probePop3(connection(u, { security: 'tls' }), recordingLogger());
    assert.equal(r.ok, true, JSON.stringify(r.steps, null, 1));
    assert.deepEqual(names(r.steps), ['resolve', 'connect', 'tls', 'greeting', 'capabilities', 'auth', 'mailbox', 'count']);
    assert.match(r.steps.find((s) => s.step === 'connect')!.detail, new RegExp(`:${dovecot.pop3sPort}$`));
  });

  test('none with disablePlain and an empty mailbox: no TLS step, AUTH LOGIN, 0 messages', async () => {
    const u = await userWith(0);
    const r = await probePop3(connection(u, { security: 'none', auth: { type: 'basic', username: u.username, password: u.password, disablePlain: true } }), recordingLogger());
    assert.equal(r.ok, true, JSON.stringify(r.steps, null, 1));
    assert.deepEqual(names(r.steps), ['resolve', 'connect', 'greeting', 'capabilities', 'auth', 'mailbox', 'count']);
    assert.match(r.steps.find((s) => s.step === 'auth')!.detail, /AUTH LOGIN/);
    assert.equal(r.messages, 0);
    assert.match(r.steps.at(-1)!.detail, /^0 messages/);
  });

  test('wrong password: auth fails with SOURCE_AUTH_REJECTED, no later step, password neither shown nor logged', async () => {
    const u = await userWith(1);
    const wrong = `${u.password}-wrong`;
    const logger = recordingLogger();
    const r = await probePop3(connection(u, { auth: { type: 'basic', username: u.username, password: wrong } }), logger);
    assert.equal(r.ok, false);
    assert.deepEqual(names(r.steps), ['resolve', 'connect', 'greeting', 'capabilities', 'tls', 'auth FAILED']);
    const failed = r.steps.at(-1)!;
    assert.equal(failed.code, 'SOURCE_AUTH_REJECTED');
    assert.match(failed.detail, /rejected the login of .*Authentication failed/);
    assert.ok(!JSON.stringify(r).includes(wrong));
    assert.ok(!logger.records.some((l) => l.includes(wrong)));
  });

  test('nothing listening: connect fails with SOURCE_CONNECT_REFUSED', async () => {
    const u = await userWith(0);
    const port = await closedPort();
    const r = await probePop3(connection(u, { port }), recordingLogger());
    assert.equal(r.ok, false);
    assert.deepEqual(names(r.steps), ['resolve', 'connect FAILED']);
    assert.equal(r.steps[1]!.code, 'SOURCE_CONNECT_REFUSED');
    assert.match(r.steps[1]!.detail, new RegExp(`127\\.0\\.0\\.1:${port} refused the connection`));
  });

  test('verification on without the CA: the TLS step fails with SOURCE_TLS_UNTRUSTED', async () => {
    const u = await userWith(0);
    const r = await probePop3(connection(u, { tls: { verify: true } }), recordingLogger());
    assert.equal(r.ok, false);
    assert.deepEqual(names(r.steps), ['resolve', 'connect', 'greeting', 'capabilities', 'tls FAILED']);
    assert.equal(r.steps.at(-1)!.code, 'SOURCE_TLS_UNTRUSTED');
  });

  test('starttls against a server without STLS: the TLS step fails with SOURCE_STARTTLS_UNAVAILABLE', async () => {
    const u = await userWith(0);
    const p = await dovecot.proxy({ targetPort: dovecot.pop3Port, dropServerLine: (l) => l === 'STLS' });
    const r = await probePop3(connection(u, { port: p.port }), recordingLogger());
    assert.equal(r.ok, false);
    assert.deepEqual(names(r.steps), ['resolve', 'connect', 'greeting', 'capabilities', 'tls FAILED']);
    assert.equal(r.steps.at(-1)!.code, 'SOURCE_STARTTLS_UNAVAILABLE');
  });
});
