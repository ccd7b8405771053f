/**
 * The POP3 client against the real Dovecot of the test harness: every security mode and login
 * mechanism, certificate checks, the listing commands, byte-exact RETR (dot lines, 8-bit bytes),
 * and what DELE, RSET, QUIT and close() leave on the server. A loopback proxy in front of Dovecot
 * records what the client sent, so a test can tell AUTH PLAIN from USER/PASS or see the STLS; the
 * server state is read with doveadm, independently of the client.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type TestUser } from '../harness/dovecot.js';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { type ImapProxy, type ImapProxyOptions } from '../harness/imap-proxy.js';
import { makeMessage } from '../harness/messages.js';
import { rejectsWith } from '../harness/errors.js';
import { Pop3Client, type Pop3ClientOptions } from '../../src/adapters/source-pop3/pop3-client.js';

/** What Dovecot's LMTP puts in front of every delivered message (see the harness). */
const LMTP_PREFIX = 'Return-Path: <>\r\n';

const dovecot = dovecotPerFile();

async function proxy(opts: Partial<ImapProxyOptions> = {}): Promise<ImapProxy> {
  return dovecot.proxy({ targetPort: dovecot.pop3Port, ...opts });
}

/** A user with a Windows-style name, so every mechanism is also tested with backslashes. */
async function user(messages: Buffer[] = []): Promise<TestUser> {
  const u = await dovecot.createUser({ username: `dom\\juser${Math.random().toString(36).slice(2, 8)}\\J.User` });
  if (messages.length) await dovecot.loadMaildir(u.username, messages);
  return u;
}

function options(u: TestUser, over: Omit<Partial<Pop3ClientOptions>, 'auth'> & { auth?: Partial<Pop3ClientOptions['auth']> } = {}): Pop3ClientOptions {
  const { auth, ...rest } = over;
  return {
    host: dovecot.host,
    port: dovecot.pop3Port,
    security: 'none',
    tls: { rejectUnauthorized: true, ca: dovecot.caCertPem },
    connectTimeoutMs: 5000,
    dataTimeoutMs: 10000,
    ...rest,
    auth: { type: 'basic', username: u.username, password: u.password, disablePlain: false, ...auth },
  };
}


async function retrieve(c: Pop3Client, msgno: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of c.retr(msgno)) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

/** Proves the session is logged in and working: STAT answers with the mailbox's count. */
async function assertWorks(c: Pop3Client, expectedCount: number): Promise<void> {
  assert.equal((await c.stat()).count, expectedCount);
}

describe('login mechanisms (through a recording proxy)', { concurrency: true }, () => {
  test('SASL PLAIN with an initial response is the default when CAPA offers it', async () => {
    const u = await user([makeMessage(1)]);
    const p = await proxy();
    const c = await Pop3Client.connect(options(u, { host: p.host, port: p.port }));
    await assertWorks(c, 1);
    await c.quit();
    const auth = p.clientLines().filter((l) => /^(AUTH|USER|PASS|APOP)\b/.test(l));
    assert.equal(auth.length, 1, auth.join('\n'));
    const m = /^AUTH PLAIN (\S+)$/.exec(auth[0]!);
    assert.ok(m, auth[0]);
    assert.equal(Buffer.from(m[1]!, 'base64').toString('utf8'), `\0${u.username}\0${u.password}`);
  });

  test('disablePlain: SASL LOGIN answers the two challenges, and AUTH PLAIN is never sent', async () => {
    const u = await user([makeMessage(1)]);
    const p = await proxy();
    const c = await Pop3Client.connect(options(u, { host: p.host, port: p.port, auth: { disablePlain: true } }));
    await assertWorks(c, 1);
    c.close();
    const lines = p.clientLines();
    assert.ok(lines.includes('AUTH LOGIN'), lines.join('\n'));
    assert.ok(!lines.some((l) => /^AUTH PLAIN/.test(l)));
    assert.ok(lines.includes(Buffer.from(u.username).toString('base64')), 'the user name went as the first answer');
  });

  test('USER/PASS when CAPA offers no SASL (the proxy hides the SASL line)', async () => {
    const u = await user([makeMessage(1), makeMessage(2)]);
    const p = await proxy({ dropServerLine: (line) => /^SASL /.test(line) });
    const c = await Pop3Client.connect(options(u, { host: p.host, port: p.port }));
    assert.ok(!c.capabilities.some((x) => x.startsWith('SASL')), 'the proxy really hid SASL');
    await assertWorks(c, 2);
    c.close();
    const lines = p.clientLines();
    assert.ok(lines.includes(`USER ${u.username}`), `USER with the backslashes intact: ${lines.join('\n')}`);
    assert.ok(lines.includes(`PASS ${u.password}`));
    assert.ok(!lines.some((l) => l.startsWith('AUTH')));
  });

  test('APOP sends the MD5 digest of the greeting timestamp and the password', async () => {
    const u = await user([makeMessage(1)]);
    const p = await proxy();
    const c = await Pop3Client.connect(options(u, { host: p.host, port: p.port, auth: { apop: true } }));
    await assertWorks(c, 1);
    assert.match(c.greeting, /^\+OK .*<[^>]+>/);
    c.close();
    const lines = p.clientLines();
    const apop = lines.find((l) => l.startsWith('APOP '));
    assert.ok(apop, lines.join('\n'));
    assert.match(apop, /^APOP \S+ [0-9a-f]{32}$/);
    assert.ok(!apop.includes(u.password));
    assert.ok(!lines.some((l) => /^(AUTH|USER|PASS)\b/.test(l)));
  });

  test('auth none logs in with nothing, so commands are refused by the server', async () => {
    const u = await user();
    const p = await proxy();
    const c = await Pop3Client.connect(options(u, { host: p.host, port: p.port, auth: { type: 'none' } }));
    await rejectsWith(c.stat(), 'SOURCE_PROTOCOL', /refused STAT/);
    c.close();
    assert.ok(!p.clientLines().some((l) => /^(AUTH|USER|PASS|APOP)\b/.test(l)));
  });
});

describe('wrong password', { concurrency: true }, () => {
  for (const [name, auth] of [
    ['AUTH PLAIN', {}],
    ['AUTH LOGIN', { disablePlain: true }],
    ['APOP', { apop: true }],
  ] as const) {
    test(`${name}: SOURCE_AUTH_REJECTED with the server's text, never the password`, async () => {
      const u = await user();
      const wrong = `${u.password}-wrong`;
      const e = await rejectsWith(
        Pop3Client.connect(options(u, { auth: { ...auth, password: wrong } })),
        'SOURCE_AUTH_REJECTED',
        new RegExp(`rejected the login of .*J\\.User.*${name.replace(' ', ' ')}.*Authentication failed`),
      );
      assert.ok(!e.message.includes(wrong) && !e.message.includes(u.password));
      assert.equal(e.details?.step, 'auth');
    });
  }
});

describe('security', { concurrency: true }, () => {
  test('none: no STLS even though the server offers it', async () => {
    const u = await user([makeMessage(1)]);
    const p = await proxy();
    const c = await Pop3Client.connect(options(u, { host: p.host, port: p.port }));
    assert.equal(c.tlsActive, false);
    assert.ok(c.capabilities.includes('STLS'));
    await assertWorks(c, 1);
    c.close();
    assert.ok(!p.clientLines().includes('STLS'));
    assert.equal(p.connections[0]!.tls, false);
  });

  test('starttls: STLS before the login, verified against the CA, CAPA read again after TLS', async () => {
    const u = await user([makeMessage(1)]);
    const p = await proxy();
    const steps: string[] = [];
    const c = await Pop3Client.connect(options(u, { host: p.host, port: p.port, security: 'starttls', onProgress: (s, d) => steps.push(`${s}: ${d}`) }));
    assert.equal(c.tlsActive, true);
    assert.ok(!c.capabilities.includes('STLS'), `capabilities are those after TLS: ${c.capabilities.join(', ')}`);
    await assertWorks(c, 1);
    await c.quit();
    assert.deepEqual(p.clientLines(), ['CAPA', 'STLS'], 'nothing but CAPA and STLS in clear text: the login went encrypted');
    assert.equal(p.connections[0]!.tls, true);
    assert.deepEqual(
      steps.map((s) => s.split(':')[0]),
      ['connect', 'greeting', 'capabilities', 'tls', 'auth'],
    );
    assert.match(steps[3]!, /verified, after STLS/);
  });

  test('starttls-if-available: uses STLS when offered', async () => {
    const u = await user([makeMessage(1)]);
    const p = await proxy();
    const c = await Pop3Client.connect(options(u, { host: p.host, port: p.port, security: 'starttls-if-available' }));
    assert.equal(c.tlsActive, true);
    await assertWorks(c, 1);
    c.close();
    assert.ok(p.clientLines().includes('STLS'));
  });

  test('starttls-if-available: continues in clear text when STLS is not offered', async () => {
    const u = await user([makeMessage(1)]);
    const p = await proxy({ dropServerLine: (l) => l === 'STLS' });
    const c = await Pop3Client.connect(options(u, { host: p.host, port: p.port, security: 'starttls-if-available' }));
    assert.equal(c.tlsActive, false);
    await assertWorks(c, 1);
    c.close();
    assert.ok(!p.clientLines().includes('STLS'));
  });

  test('starttls: SOURCE_STARTTLS_UNAVAILABLE when STLS is not offered, before any credential is sent', async () => {
    const u = await user();
    const p = await proxy({ dropServerLine: (l) => l === 'STLS' });
    const e = await rejectsWith(Pop3Client.connect(options(u, { host: p.host, port: p.port, security: 'starttls' })), 'SOURCE_STARTTLS_UNAVAILABLE', /does not offer STLS/);
    assert.equal(e.details?.step, 'tls');
    assert.deepEqual(p.clientLines(), ['CAPA']);
  });

  test('tls (POP3S): implicit TLS from the first byte, verified against the CA', async () => {
    const u = await user([makeMessage(1)]);
    const p = await proxy({ targetPort: dovecot.pop3sPort });
    const c = await Pop3Client.connect(options(u, { host: p.host, port: p.port, security: 'tls', tls: { rejectUnauthorized: true, ca: dovecot.caCertPem, servername: 'localhost' } }));
    assert.equal(c.tlsActive, true);
    assert.ok(!c.capabilities.includes('STLS'));
    await assertWorks(c, 1);
    await c.quit();
    assert.equal(p.connections[0]!.tls, true);
    assert.deepEqual(p.clientLines(), [], 'not one clear-text line');
  });

  test('tls with verification on and no CA: SOURCE_TLS_UNTRUSTED naming tls.ca', async () => {
    const u = await user();
    const e = await rejectsWith(
      Pop3Client.connect(options(u, { port: dovecot.pop3sPort, security: 'tls', tls: { rejectUnauthorized: true } })),
      'SOURCE_TLS_UNTRUSTED',
      /certificate of POP3 server .* is not trusted .*tls\.ca/,
    );
    assert.equal(e.details?.step, 'tls');
  });

  test('starttls with verification on and no CA: SOURCE_TLS_UNTRUSTED, and no login was sent', async () => {
    const u = await user();
    const p = await proxy();
    await rejectsWith(Pop3Client.connect(options(u, { host: p.host, port: p.port, security: 'starttls', tls: { rejectUnauthorized: true } })), 'SOURCE_TLS_UNTRUSTED');
    assert.deepEqual(p.clientLines(), ['CAPA', 'STLS']);
  });

  test('tls with a host name the certificate does not carry: SOURCE_TLS_UNTRUSTED', async () => {
    const u = await user();
    await rejectsWith(
      Pop3Client.connect(options(u, { port: dovecot.pop3sPort, security: 'tls', tls: { rejectUnauthorized: true, ca: dovecot.caCertPem, servername: 'wrong.example.test' } })),
      'SOURCE_TLS_UNTRUSTED',
      /ERR_TLS_CERT_ALTNAME_INVALID/,
    );
  });

  test('tls with verification off and no CA: connects, unverified', async () => {
    const u = await user([makeMessage(1)]);
    const steps: string[] = [];
    const c = await Pop3Client.connect(options(u, { port: dovecot.pop3sPort, security: 'tls', tls: { rejectUnauthorized: false }, onProgress: (s, d) => steps.push(`${s}: ${d}`) }));
    assert.equal(c.tlsActive, true);
    await assertWorks(c, 1);
    c.close();
    assert.match(steps.find((s) => s.startsWith('tls'))!, /NOT verified/);
  });
});

/** A body full of the cases dot-stuffing and 8-bit transparency get wrong. */
function trickyMessage(): Buffer {
  const eight = Buffer.from(Array.from({ length: 128 }, (_, i) => 0x80 + i));
  return Buffer.concat([
    Buffer.from('From: a@example.test\r\nTo: b@example.test\r\nSubject: dots =?utf-8?q?and_8bit?=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'),
    Buffer.from('.starts with a dot\r\n..starts with two\r\n...three\r\n.\r\n..\r\n \r\n.\t\r\nmiddle . dot\r\n'),
    Buffer.from('Grüße, 日本語\r\n'),
    eight,
    Buffer.from('\r\n'),
    eight,
    Buffer.from('\r\n.\r\n'),
  ]);
}

describe('mailbox commands', { concurrency: true }, () => {
  test('STAT, LIST and UIDL agree with each other and with the messages', async () => {
    const msgs = [makeMessage(1, { bodyBytes: 1000 }), makeMessage(2, { bodyBytes: 5000 }), makeMessage(3, { bodyBytes: 20000 })];
    const u = await user(msgs);
    const c = await Pop3Client.connect(options(u));
    const stat = await c.stat();
    const list = await c.list();
    const uidl = await c.uidl();
    assert.deepEqual(list, msgs.map((m, i) => ({ msgno: i + 1, size: m.length })), 'CRLF messages: LIST sizes are their lengths');
    assert.deepEqual(stat, { count: 3, size: msgs.reduce((a, m) => a + m.length, 0) });
    assert.deepEqual(uidl.map((x) => x.msgno), [1, 2, 3]);
    for (const x of uidl) assert.match(x.uidl, /^[0-9a-f]{16}$/, 'pop3_uidl_format of the harness');
    assert.equal(new Set(uidl.map((x) => x.uidl)).size, 3);
    await c.noop();
    await c.quit();
  });

  test('RETR returns the stored bytes exactly: dot lines, a line of ".", 8-bit bytes', async () => {
    const raw = trickyMessage();
    const next = makeMessage(2);
    const u = await user([raw, next]);
    const c = await Pop3Client.connect(options(u));
    const got = await retrieve(c, 1);
    assert.equal(got.toString('hex'), raw.toString('hex'));
    assert.ok((await retrieve(c, 2)).equals(next), 'the message after it is read from the right place');
    c.close();
  });

  test('RETR of an LMTP-delivered message ends with exactly the delivered bytes', async () => {
    const raw = trickyMessage();
    const u = await user();
    await dovecot.deliver(u.username, raw);
    const c = await Pop3Client.connect(options(u, { security: 'starttls' }));
    const got = await retrieve(c, 1);
    assert.equal(got.toString('latin1'), LMTP_PREFIX + raw.toString('latin1'));
    c.close();
  });

  test('many messages with random dot lines and sizes come back exactly, over TLS and in clear', async () => {
    const msgs: Buffer[] = [];
    for (let i = 0; i < 60; i++) {
      const lines: string[] = [`Subject: random ${i}`, ''];
      const n = 50 + ((i * 7919) % 4000);
      for (let k = 0; k < n; k++) lines.push((k * i) % 5 === 0 ? '.' : (k + i) % 7 === 0 ? `..${k}` : (k + i) % 3 === 0 ? `.x${'y'.repeat(k % 90)}` : `line ${k} ${'z'.repeat((k * 13) % 120)}`);
      msgs.push(Buffer.from(`${lines.join('\r\n')}\r\n`));
    }
    const u = await user(msgs);
    for (const security of ['none', 'tls'] as const) {
      const c = await Pop3Client.connect(options(u, { security, port: security === 'tls' ? dovecot.pop3sPort : dovecot.pop3Port }));
      for (let i = 0; i < msgs.length; i++) {
        const got = await retrieve(c, i + 1);
        assert.ok(got.equals(msgs[i]!), `message ${i + 1} over ${security}: ${got.length} vs ${msgs[i]!.length} bytes`);
      }
      await c.quit();
    }
  });
});

describe('deletion and session state', { concurrency: true }, () => {
  test('DELE then QUIT removes the messages on the server', async () => {
    const u = await user([makeMessage(1), makeMessage(2), makeMessage(3)]);
    const c = await Pop3Client.connect(options(u));
    await c.dele(1);
    await c.dele(3);
    assert.equal((await c.stat()).count, 1, 'STAT leaves deleted messages out');
    await c.quit();
    assert.equal(await dovecot.messageCount(u.username), 1);
  });

  test('DELE then close() (no QUIT) removes nothing', async () => {
    const u = await user([makeMessage(1), makeMessage(2)]);
    const c = await Pop3Client.connect(options(u));
    await c.dele(1);
    await c.dele(2);
    c.close();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await dovecot.messageCount(u.username), 2);
    const again = await Pop3Client.connect(options(u));
    assert.equal((await again.stat()).count, 2);
    await again.quit();
  });

  test('RSET un-deletes: QUIT afterwards removes nothing', async () => {
    const u = await user([makeMessage(1), makeMessage(2)]);
    const c = await Pop3Client.connect(options(u));
    await c.dele(1);
    assert.equal((await c.stat()).count, 1);
    await c.rset();
    assert.equal((await c.stat()).count, 2);
    await c.quit();
    assert.equal(await dovecot.messageCount(u.username), 2);
  });

  test('RETR of a deleted message is SOURCE_MESSAGE_VANISHED and the session goes on', async () => {
    const second = makeMessage(2);
    const u = await user([makeMessage(1), second]);
    const c = await Pop3Client.connect(options(u));
    await c.dele(1);
    await rejectsWith(retrieve(c, 1), 'SOURCE_MESSAGE_VANISHED', /message 1 is no longer on POP3 server/);
    await rejectsWith(retrieve(c, 9), 'SOURCE_MESSAGE_VANISHED');
    assert.ok((await retrieve(c, 2)).equals(second));
    await c.quit();
    assert.equal(await dovecot.messageCount(u.username), 1);
  });

  test('a RETR stream abandoned after one chunk is drained: the next commands get their own answers', async () => {
    const big = makeMessage(1, { attachmentBytes: 3_000_000 });
    const small = makeMessage(2);
    const u = await user([big, small]);
    const c = await Pop3Client.connect(options(u));
    for await (const chunk of c.retr(1)) {
      assert.ok(chunk.length > 0);
      break;
    }
    await c.noop();
    assert.ok((await retrieve(c, 2)).equals(small));
    assert.ok((await retrieve(c, 1)).equals(big));
    await c.dele(2);
    await c.quit();
    assert.equal(await dovecot.messageCount(u.username), 1, 'the session and its deletion survived the abandoned stream');
  });

  test('a command sent while a RETR stream is open is refused at once (it would deadlock)', async () => {
    const u = await user([makeMessage(1, { attachmentBytes: 500_000 })]);
    const c = await Pop3Client.connect(options(u));
    const it = c.retr(1)[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(first.done, false);
    await rejectsWith(c.noop(), 'INTERNAL', /RETR 1 stream is still open/);
    let n = 0;
    for (let r = await it.next(); !r.done; r = await it.next()) n++;
    assert.ok(n >= 1);
    await c.noop();
    c.close();
  });
});
