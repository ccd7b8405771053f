/**
 * The probe test's relay adapter (`relay-nodemailer`, ADR 0027) against Dovecot's LMTP: STARTTLS
 * verified against the test CA delivers; an untrusted certificate, implicit TLS on the plain
 * port and a port nobody listens on each fail as PROBE_RELAY_FAILED with a sentence naming the
 * relay and what went wrong.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sendThroughRelay, type RelayOptions } from '../../src/adapters/relay-nodemailer/index.js';
import { MailsluiceError } from '../../src/core/errors/index.js';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { freePort } from '../harness/free-port.js';

const dovecot = dovecotPerFile();

function raw(subject: string): Buffer {
  return Buffer.from(`From: probe@mailsluice.invalid\r\nTo: x@example.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@mailsluice.invalid>\r\n\r\nprobe\r\n`);
}

function options(over: Partial<RelayOptions> = {}): RelayOptions {
  return { host: dovecot.host, port: dovecot.lmtpPort, protocol: 'lmtp', security: 'starttls', tls: { verify: true, ca: dovecot.caCertPem }, timeoutMs: 5_000, label: 'test relay', setting: 'testRelay', failure: 'PROBE_RELAY_FAILED', ...over };
}

async function refusal(p: Promise<unknown>): Promise<MailsluiceError> {
  const err = await p.then(
    () => assert.fail('the send should have failed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof MailsluiceError, String(err));
  assert.equal(err.code, 'PROBE_RELAY_FAILED');
  return err;
}

test('STARTTLS required and verified against the CA: the relay accepts and Dovecot delivers', async () => {
  const user = await dovecot.createUser({ username: 'relay.ok@example.test' });
  const receipt = await sendThroughRelay(options(), { from: 'probe@mailsluice.invalid', to: [user.username], raw: raw('starttls-ok') });
  assert.deepEqual(receipt.accepted, [user.username]);
  assert.equal(await dovecot.messageCount(user.username), 1);
});

test('an untrusted certificate, implicit TLS on a plain port, and a closed port are each a named refusal', async () => {
  const user = await dovecot.createUser({ username: 'relay.no@example.test' });
  const to = { from: 'probe@mailsluice.invalid', to: [user.username], raw: raw('refused') };
  const untrusted = await refusal(sendThroughRelay(options({ tls: { verify: true } }), to));
  assert.match(untrusted.message, new RegExp(`test relay 127\\.0\\.0\\.1:${dovecot.lmtpPort} \\(LMTP\\) presented a certificate that failed verification`));
  const implicit = await refusal(sendThroughRelay(options({ security: 'tls' }), to));
  assert.match(implicit.message, /test relay .* \(LMTP\) /);
  const port = await freePort();
  const closed = await refusal(sendThroughRelay(options({ port }), to));
  assert.match(closed.message, new RegExp(`test relay 127\\.0\\.0\\.1:${port} \\(LMTP\\) could not connect`));
  assert.equal(await dovecot.messageCount(user.username), 0);
});
