/**
 * Standard Webhooks signatures (issue 12, item 12; ADR 0016), checked by an independent verifier,
 * the `standardwebhooks` package, over the bytes a real HTTP receiver on 127.0.0.1 got: a
 * `whsec_` secret and a plain secret (used as its UTF-8 bytes, which the verifier is given as
 * base64) both verify; `webhook-id` is the idempotency key; the timestamp is signed, so a replay
 * with a fresh timestamp, or the captured request replayed later, is rejected. The legacy
 * `X-Mailsluice-Signature` is still sent (one release).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { createWebhookAction, signBody } from '../../src/adapters/action-webhook/index.js';
import type { MessageAttributes } from '../../src/core/message/attributes.js';
import type { DeliveryContext } from '../../src/core/ports/scenario-action.js';

let server: Server;
let url: string;
const received: Array<{ headers: IncomingHttpHeaders; body: Buffer }> = [];

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const message = { From: null, To: [], Cc: [], Bcc: [], Subject: 'signed', ReceivedDate: null, GlobalMessageId: 'a@b', InReplyTo: '', References: [], TextBody: 'x', HtmlBody: '', Attachments: [], CustomHeaders: [], ArchiveId: '0'.repeat(64) } as unknown as MessageAttributes;

function ctx(key: string): DeliveryContext {
  return { route: 'r', connection: 'c', deliveryId: key, idempotencyKey: `${key}.0`, step: 0, attempt: 1, readRaw: async () => Buffer.alloc(0), signal: new AbortController().signal };
}

async function deliver(secret: string, key: string): Promise<{ headers: Record<string, string>; body: Buffer }> {
  const a = createWebhookAction({ url, secret, timeoutMs: 5000 });
  try {
    assert.deepEqual(await a.run(message, ctx(key)), { ok: true });
  } finally {
    await a.close();
  }
  const r = received.find((x) => x.headers['idempotency-key'] === `${key}.0`);
  assert.ok(r, 'the receiver got it');
  return { headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, String(v)])), body: r.body };
}

test('a whsec_ secret: the standardwebhooks verifier accepts the request; webhook-id is the idempotency key', async () => {
  const secret = `whsec_${Buffer.from('a key of thirty-two random bytes').toString('base64')}`;
  const { headers, body } = await deliver(secret, 'whsec');
  assert.equal(headers['webhook-id'], 'whsec.0');
  assert.ok(Math.abs(Number(headers['webhook-timestamp']) - Date.now() / 1000) < 60, 'timestamp is unix seconds, now');
  const payload = new Webhook(secret).verify(body, headers) as { deliveryId: string };
  assert.equal(payload.deliveryId, 'whsec');
  // The legacy header stays for one release.
  assert.equal(headers['x-mailsluice-signature'], signBody(body, secret));
});

test('a plain secret is used as its UTF-8 bytes: the verifier given their base64 accepts the request', async () => {
  const secret = 'plain sécret';
  const { headers, body } = await deliver(secret, 'plain');
  new Webhook(Buffer.from(secret, 'utf8').toString('base64')).verify(body, headers);
  assert.equal(headers['x-mailsluice-signature'], signBody(body, secret));
});

test('the timestamp is signed: a replay with a fresh timestamp, or the same request ten minutes later, is rejected', async () => {
  const secret = `whsec_${Buffer.from('another key, for the replay test').toString('base64')}`;
  const { headers, body } = await deliver(secret, 'replay');
  const verifier = new Webhook(secret);
  verifier.verify(body, headers);
  // Ten minutes later, an attacker replays the captured request: as it was, it is too old; with
  // its timestamp moved to the present, the signature no longer matches.
  const realNow = Date.now;
  Date.now = () => realNow() + 10 * 60 * 1000;
  try {
    assert.throws(() => verifier.verify(body, headers), /too old/i);
    const moved = { ...headers, 'webhook-timestamp': String(Math.floor(Date.now() / 1000)) };
    assert.throws(() => verifier.verify(body, moved), /signature/i);
  } finally {
    Date.now = realNow;
  }
});
