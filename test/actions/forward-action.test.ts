/**
 * The `forward` action against the real Dovecot of the test harness, over LMTP (the only mail
 * server this machine has; SMTP mode is the same nodemailer transport without `lmtp`, exercised
 * here against a scripted SMTP server on loopback for the replies Dovecot never gives).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createForwardAction } from '../../src/adapters/action-forward/index.js';
import type { ActionOutcome, ScenarioAction } from '../../src/core/ports/scenario-action.js';
import type { ForwardActionOptions } from '../../src/adapters/action-forward/index.js';
import { MailsluiceError } from '../../src/core/errors/index.js';
import { startDovecot, type DovecotInstance } from '../harness/dovecot.js';
import { serverMessages, closedPort, startSilentServer } from '../harness/imap-proxy.js';
import { attributes, deliveryContext, scriptedSmtp, trickyMessage } from './action-fixtures.js';

let dovecot: DovecotInstance;
const actions: ScenarioAction[] = [];

before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  await Promise.all(actions.map((a) => a.close?.()));
  await dovecot?.stop();
});

function forward(opts: Omit<ForwardActionOptions, 'route'> & { route?: string }): ScenarioAction {
  const a = createForwardAction({ route: 'fwd', ...opts });
  actions.push(a);
  return a;
}

/** LMTP into the harness Dovecot, trusting its private CA for the STARTTLS it offers. */
function lmtp(to: string[], over: Partial<ForwardActionOptions> = {}): ScenarioAction {
  return forward({ to, relay: `${dovecot.host}:${dovecot.lmtpPort}`, lmtp: true, tls: { ca: dovecot.caCertPem }, ...over });
}

function failure(o: ActionOutcome): MailsluiceError {
  assert.equal(o.ok, false, `expected a failed attempt, got ${JSON.stringify(o)}`);
  return (o as { ok: false; error: MailsluiceError }).error;
}

/** The one message in the user's INBOX, split into what Dovecot added and the rest. */
async function delivered(user: { username: string; password: string }): Promise<{ added: string; body: Buffer }[]> {
  const msgs = await serverMessages(dovecot, user);
  return msgs.map((m) => {
    // Dovecot's LMTP adds exactly one header line, Return-Path (the harness turns off
    // Delivered-To and Received): everything after the first CRLF is what we sent.
    const eol = m.source.indexOf('\r\n');
    return { added: m.source.subarray(0, eol + 2).toString('latin1'), body: m.source.subarray(eol + 2) };
  });
}

test('LMTP: the original raw message arrives byte for byte, with the null sender by default', async () => {
  const user = await dovecot.createUser();
  const raw = trickyMessage('lmtp-1');
  const ctx = deliveryContext(raw);
  const a = lmtp([user.username]);
  assert.equal(a.kind, 'forward');
  assert.deepEqual(await a.run(attributes('x'), ctx), { ok: true });
  assert.equal(ctx.reads(), 1);
  const got = await delivered(user);
  assert.equal(got.length, 1);
  assert.equal(got[0]!.added, 'Return-Path: <>\r\n');
  assert.ok(got[0]!.body.equals(raw), 'the stored message is the original bytes after the Return-Path line');
});

test('LMTP: an envelope sender and several recipients', async () => {
  const u1 = await dovecot.createUser();
  const u2 = await dovecot.createUser();
  const raw = trickyMessage('lmtp-2');
  const out = await lmtp([u1.username, u2.username], { from: 'journal-forward@example.test' }).run(attributes('x'), deliveryContext(raw));
  assert.deepEqual(out, { ok: true });
  for (const u of [u1, u2]) {
    const got = await delivered(u);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.added, 'Return-Path: <journal-forward@example.test>\r\n');
    assert.ok(got[0]!.body.equals(raw));
  }
});

test('LMTP: many messages through the pooled connections, concurrently, each arrives once', async () => {
  const user = await dovecot.createUser();
  const a = lmtp([user.username]);
  const raws = Array.from({ length: 12 }, (_, i) => trickyMessage(`pool-${i}`));
  const outs = await Promise.all(raws.map((r) => a.run(attributes('x'), deliveryContext(r))));
  assert.ok(outs.every((o) => o.ok), JSON.stringify(outs.filter((o) => !o.ok)));
  const got = await delivered(user);
  assert.equal(got.length, raws.length);
  const want = new Set(raws.map((r) => r.toString('latin1')));
  for (const g of got) assert.ok(want.delete(g.body.toString('latin1')), 'each stored message is one of the originals, none twice');
});

test('LMTP: an unknown recipient is a permanent rejection; the known one still got it', async () => {
  const user = await dovecot.createUser();
  const raw = trickyMessage('lmtp-3');
  const e = failure(await lmtp([user.username, 'nobody-here-xyz']).run(attributes('x'), deliveryContext(raw)));
  assert.equal(e.code, 'ACTION_FORWARD_REJECTED');
  assert.equal(e.retryable, false);
  assert.match(e.message, /forward of route "fwd" via LMTP relay 127\.0\.0\.1:\d+: the relay rejected 1 of 2 recipient\(s\) \(nobody-here-xyz\); delivered to /);
  assert.deepEqual(e.details?.['rejected'], ['nobody-here-xyz']);
  assert.equal((await delivered(user)).length, 1);

  const all = failure(await lmtp(['nobody-here-xyz']).run(attributes('x'), deliveryContext(raw)));
  assert.equal(all.code, 'ACTION_FORWARD_REJECTED');
  assert.equal(all.retryable, false);
  assert.match(all.message, /rejected the recipients \(rejected: nobody-here-xyz\): 550/);
});

test("LMTP with STARTTLS and the relay's certificate not trusted: a non-retryable TLS failure", async () => {
  const user = await dovecot.createUser();
  const e = failure(await lmtp([user.username], { tls: {} }).run(attributes('x'), deliveryContext(trickyMessage('tls'))));
  assert.equal(e.code, 'ACTION_FORWARD_TLS_UNTRUSTED');
  assert.equal(e.retryable, false);
  assert.match(e.message, /certificate failed verification \(/);
  assert.equal((await delivered(user)).length, 0);
});

test('a refused relay port is a retryable failure', async () => {
  const port = await closedPort();
  const e = failure(await forward({ to: ['a@example.test'], relay: `127.0.0.1:${port}`, lmtp: true }).run(attributes('x'), deliveryContext(trickyMessage('refused'))));
  assert.equal(e.code, 'ACTION_FORWARD_CONNECTION_FAILED');
  assert.equal(e.retryable, true);
  assert.match(e.message, new RegExp(`via LMTP relay 127\\.0\\.0\\.1:${port}: the relay refused the connection`));
});

test('a relay that never greets times out (retryable); an abort ends the wait at once', async () => {
  const silent = await startSilentServer();
  try {
    const t0 = Date.now();
    const e = failure(await forward({ to: ['a@example.test'], relay: `127.0.0.1:${silent.port}`, timeoutMs: 300 }).run(attributes('x'), deliveryContext(trickyMessage('silent'))));
    assert.equal(e.code, 'ACTION_FORWARD_CONNECTION_FAILED');
    assert.equal(e.retryable, true);
    assert.match(e.message, /did not answer in time/);
    assert.ok(Date.now() - t0 < 5_000);

    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    const t1 = Date.now();
    const ab = failure(await forward({ to: ['a@example.test'], relay: `127.0.0.1:${silent.port}` }).run(attributes('x'), deliveryContext(trickyMessage('abort'), { signal: ac.signal })));
    assert.equal(ab.code, 'ACTION_FORWARD_CONNECTION_FAILED');
    assert.match(ab.message, /aborted/);
    assert.ok(Date.now() - t1 < 2_000, 'the abort did not wait for the one-minute default timeout');
  } finally {
    await silent.close();
  }
});

test("the archive's error is returned as it is when the raw message cannot be read", async () => {
  const gone = new MailsluiceError('STORE_NOT_FOUND', 'blob abc is not in the archive');
  const out = await forward({ to: ['a@example.test'], relay: '127.0.0.1:1' }).run(attributes('x'), deliveryContext(Buffer.alloc(0), { readError: gone }));
  assert.equal(failure(out), gone);
});

// ---------------------------------------------------------------------------------------------
// SMTP mode against a scripted server on loopback: the replies a real relay gives that Dovecot's
// LMTP cannot be made to give (4xx, 5xx on DATA, AUTH refusals).

test('SMTP: the raw bytes go out unchanged, with the envelope given', async () => {
  const smtp = await scriptedSmtp({});
  try {
    const raw = trickyMessage('smtp-1');
    const out = await forward({ to: ['x@example.test', 'y@example.test'], from: 'fwd@example.test', relay: `127.0.0.1:${smtp.port}` }).run(attributes('x'), deliveryContext(raw));
    assert.deepEqual(out, { ok: true });
    assert.equal(smtp.data.length, 1);
    assert.ok(smtp.data[0]!.equals(raw), 'no header added, nothing re-encoded');
    assert.ok(smtp.lines.some((l) => l.startsWith('MAIL FROM:<fwd@example.test>')));
    assert.deepEqual(smtp.lines.filter((l) => l.startsWith('RCPT')), ['RCPT TO:<x@example.test>', 'RCPT TO:<y@example.test>']);
  } finally {
    await smtp.close();
  }
});

test('SMTP: 4xx replies are retryable, 5xx are not, and the reply is in the sentence', async () => {
  const cases: Array<[Parameters<typeof scriptedSmtp>[0], string, boolean, RegExp]> = [
    [{ rcpt: () => '450 4.2.1 mailbox busy, try later' }, 'ACTION_FORWARD_DEFERRED', true, /deferred the recipients \(rejected: x@example\.test\): 450 4\.2\.1 mailbox busy/],
    [{ data: '451 4.3.0 queue full' }, 'ACTION_FORWARD_DEFERRED', true, /deferred the message: 451 4\.3\.0 queue full/],
    [{ data: '552 5.3.4 message too big' }, 'ACTION_FORWARD_REJECTED', false, /rejected the message: 552 5\.3\.4 message too big/],
    [{ mail: '553 5.7.1 sender not allowed' }, 'ACTION_FORWARD_REJECTED', false, /rejected the sender: 553 5\.7\.1 sender not allowed/],
    [{ rcpt: (to) => (to.startsWith('bad') ? '550 5.1.1 no such user' : '250 ok') }, 'ACTION_FORWARD_REJECTED', false, /rejected 1 of 2 recipient\(s\) \(bad@example\.test\); delivered to x@example\.test/],
  ];
  for (const [reply, code, retryable, re] of cases) {
    const smtp = await scriptedSmtp(reply);
    try {
      const to = reply.rcpt && code === 'ACTION_FORWARD_REJECTED' ? ['x@example.test', 'bad@example.test'] : ['x@example.test'];
      const e = failure(await forward({ to, relay: `127.0.0.1:${smtp.port}` }).run(attributes('x'), deliveryContext(trickyMessage('smtp'))));
      assert.equal(e.code, code, e.message);
      assert.equal(e.retryable, retryable, e.message);
      assert.match(e.message, re);
    } finally {
      await smtp.close();
    }
  }
});

test('SMTP AUTH refused: not retryable, and the password appears nowhere, even when the server echoes it', async () => {
  const pass = 'S3cret-pass-42';
  const echoed = Buffer.from(`\0fwd-user\0${pass}`).toString('base64');
  const smtp = await scriptedSmtp({ auth: `535 5.7.8 credentials ${echoed} rejected (${pass})` });
  try {
    const e = failure(await forward({ to: ['x@example.test'], relay: `127.0.0.1:${smtp.port}`, auth: { user: 'fwd-user', pass } }).run(attributes('x'), deliveryContext(trickyMessage('auth'))));
    assert.equal(e.code, 'ACTION_FORWARD_AUTH_REJECTED');
    assert.equal(e.retryable, false);
    assert.match(e.message, /rejected the credentials of user "fwd-user": 535 5\.7\.8 credentials \*\*\* rejected \(\*\*\*\)/);
    const everything = JSON.stringify([e.message, e.toJSON(), e.details, (e.cause as Error | undefined)?.message]);
    assert.ok(!everything.includes(pass) && !everything.includes(echoed), everything);
    assert.ok(smtp.lines.some((l) => l.includes(echoed)), 'the server did get the credentials (AUTH PLAIN)');
  } finally {
    await smtp.close();
  }
});

test('options that cannot be right are refused at creation', () => {
  const bad: Array<[Partial<ForwardActionOptions>, RegExp]> = [
    [{ to: [] }, /to must list at least one recipient/],
    [{ to: ['a b@example.test'] }, /to\[0\] is not an address/],
    [{ relay: 'smtp://mail.example.test' }, /relay must be host\[:port\] without a protocol prefix/],
    [{ relay: 'mail.example.test:99999' }, /port from 1 to 65535/],
    [{ from: '<x@example.test>' }, /from is not an address/],
    [{ auth: { user: '', pass: 'topsecret' } }, /auth must be \{ user, pass \}/],
  ];
  for (const [over, re] of bad) {
    assert.throws(
      () => createForwardAction({ route: 'fwd', to: ['a@example.test'], relay: 'mail.example.test', ...over }),
      (e: unknown) => e instanceof MailsluiceError && e.code === 'CONFIG_INVALID' && re.test(e.message) && !e.message.includes('topsecret'),
      re.source,
    );
  }
});
