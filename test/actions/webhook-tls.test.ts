/**
 * The webhook action over https (its own pipelined client, ADR 0008) against a real node:https
 * receiver on 127.0.0.1 with a certificate from a private CA: verification is on by default and
 * an untrusted certificate is a non-retryable ACTION_TLS_UNTRUSTED; `tls.ca` trusts the CA,
 * `tls.servername` picks the name verified, `tls.verify: false` turns verification off.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { makeCertificates, type Certificates } from '../harness/dovecot.js';
import { createWebhookAction, signBody } from '../../src/adapters/action-webhook/index.js';
import type { MessageAttributes } from '../../src/core/message/attributes.js';
import type { DeliveryContext } from '../../src/core/ports/scenario-action.js';

let dir: string;
let certs: Certificates;
let server: Server;
let url: string;
const received: Array<{ key: string; signature: string; body: Buffer }> = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ms-webhook-tls-'));
  certs = await makeCertificates(dir);
  server = createServer({ cert: readFileSync(certs.serverCertPath), key: readFileSync(certs.serverKeyPath) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ key: String(req.headers['idempotency-key']), signature: String(req.headers['x-mailsluice-signature']), body: Buffer.concat(chunks) });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

const message = { From: null, To: [], Cc: [], Bcc: [], Subject: 'tls', ReceivedDate: null, GlobalMessageId: 'a@b', InReplyTo: '', References: [], TextBody: 'x', HtmlBody: '', Attachments: [], CustomHeaders: [], ArchiveId: '0'.repeat(64) } as unknown as MessageAttributes;

function ctx(key: string): DeliveryContext {
  return { route: 'r', connection: 'c', deliveryId: key, idempotencyKey: `${key}.0`, step: 0, attempt: 1, readRaw: async () => Buffer.alloc(0), signal: new AbortController().signal };
}

test('https: an untrusted certificate is ACTION_TLS_UNTRUSTED, not retried; nothing reaches the receiver', async () => {
  const a = createWebhookAction({ url, secret: 's', timeoutMs: 5000 });
  try {
    const before = received.length;
    const o = await a.run(message, ctx('untrusted'));
    assert.equal(o.ok, false);
    if (o.ok) return;
    assert.equal(o.error.code, 'ACTION_TLS_UNTRUSTED');
    assert.equal(o.error.retryable, false);
    assert.match(o.error.message, /certificate failed verification/);
    assert.equal(received.length, before);
  } finally {
    await a.close();
  }
});

test('https: with tls.ca the private CA is trusted; the request arrives signed', async () => {
  const a = createWebhookAction({ url, secret: 's', timeoutMs: 5000, tls: { ca: readFileSync(certs.caCertPath, 'utf8') } });
  try {
    const o = await a.run(message, ctx('trusted'));
    assert.deepEqual(o, { ok: true });
    const r = received.find((x) => x.key === 'trusted.0');
    assert.ok(r, 'the receiver got it');
    assert.equal(r.signature, signBody(r.body, 's'));
  } finally {
    await a.close();
  }
});

test('https: a servername the certificate does not carry is untrusted; verify: false accepts any certificate', async () => {
  const wrong = createWebhookAction({ url, timeoutMs: 5000, tls: { ca: readFileSync(certs.caCertPath, 'utf8'), servername: 'not-this-host.example' } });
  const off = createWebhookAction({ url, timeoutMs: 5000, tls: { verify: false } });
  try {
    const o = await wrong.run(message, ctx('wrong-name'));
    assert.equal(o.ok, false);
    if (!o.ok) assert.equal(o.error.code, 'ACTION_TLS_UNTRUSTED');
    assert.deepEqual(await off.run(message, ctx('unverified')), { ok: true });
    assert.ok(received.some((x) => x.key === 'unverified.0'));
  } finally {
    await wrong.close();
    await off.close();
  }
});
