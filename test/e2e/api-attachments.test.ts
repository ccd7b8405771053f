/**
 * Attachment references a receiver can fetch (issue 4), end to end: a real drain (and a real
 * service) of a real Dovecot mailbox, a webhook to a real receiver on loopback, and the API on a
 * free loopback port. The receiver GETs the `Url` of the reference in the payload and gets
 * exactly the attachment's bytes; a changed signature, an expired URL and a wrong attachment
 * are refused; a port in use stops the command before it takes anything; the API closes with
 * the command.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, makeWorkspace, runCli, spawnCli } from '../harness/cli.js';
import { startWebhookReceiver, waitFor, type ReceivedRequest } from '../harness/webhook-receiver.js';
import { messageWithAttachments } from '../harness/attachment-mail.js';
import { urlSignature, attachmentPath, URL_KEY_FILE } from '../../src/api/index.js';
import { freePort } from '../harness/free-port.js';

const dovecot = dovecotPerFile();

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');


type Reference = { ArchiveId: string; Sha256: string; Url?: string };

/** The attachments of a webhook request that went as references. */
function references(q: ReceivedRequest): Reference[] {
  return q.body.message.Attachments.filter((a) => typeof a.Content === 'object').map((a) => (a.Content as { Reference: Reference }).Reference);
}

/** GET `url` and read it all (status, headers, bytes). */
async function get(url: string): Promise<{ status: number; type: string | null; length: string | null; body: Buffer; code?: string }> {
  const res = await fetch(url);
  const body = Buffer.from(await res.arrayBuffer());
  const code = res.headers.get('content-type')?.startsWith('application/json') ? (JSON.parse(body.toString('utf8')) as { code?: string }).code : undefined;
  return { status: res.status, type: res.headers.get('content-type'), length: res.headers.get('content-length'), body, ...(code ? { code } : {}) };
}

const big = { name: 'quarterly figures.pdf', type: 'application/pdf', bytes: randomBytes(300 * 1024) };
const small = { name: 'note.txt', type: 'text/plain', bytes: Buffer.from('small enough to go inline\n'.repeat(20)) };

test('drain: the receiver fetches the reference Url and gets exactly the attachment; tampered, expired and wrong ones are refused', async () => {
  const user = await dovecot.createUser();
  const raw = messageWithAttachments('Figures attached', [big, small]);
  await dovecot.loadMaildir(user.username, [raw]);
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const recv = await startWebhookReceiver({ secret: 's' });
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user)],
    api: { listen: `127.0.0.1:${port}`, referenceTtlSeconds: 3600 },
    routes: [{ name: 'hook', connection: 'journal', scenario: [{ action: 'webhook', url: recv.url, secret: 's', inlineAttachmentsUpTo: 1024 }] }],
  });
  // What the receiver saw when it fetched, while the drain (and so the API) still ran: it
  // fetches before it answers, so the drain cannot have ended yet.
  const seen: Record<string, Awaited<ReturnType<typeof get>>> = {};
  recv.answer(async (q) => {
    const [ref] = references(q);
    if (!ref?.Url) return { status: 200 };
    seen.good = await get(ref.Url);
    const u = new URL(ref.Url);
    const sig = u.searchParams.get('signature')!;
    const tampered = new URL(u);
    tampered.searchParams.set('signature', (sig[0] === '0' ? '1' : '0') + sig.slice(1));
    seen.tampered = await get(tampered.href);
    // Valid signatures for an expired URL and for an attachment the message does not have,
    // made with the installation's own key, as only mailsluice could.
    const key = readFileSync(join(ws.dataDir, URL_KEY_FILE));
    const path = attachmentPath(ref.ArchiveId, ref.Sha256);
    const past = Math.floor(Date.now() / 1000) - 1;
    seen.expired = await get(`${publicUrl}${path}?expires=${past}&signature=${urlSignature(key, 'GET', path, past)}`);
    const wrong = attachmentPath(ref.ArchiveId, sha256(Buffer.from('not an attachment of this message')));
    const later = Math.floor(Date.now() / 1000) + 600;
    seen.wrongSha = await get(`${publicUrl}${wrong}?expires=${later}&signature=${urlSignature(key, 'GET', wrong, later)}`);
    seen.health = await get(`${publicUrl}/healthz`);
    return { status: 200 };
  });
  try {
    const started = Math.floor(Date.now() / 1000);
    const r = await runCli(['drain', '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { routes: unknown }).routes, { hook: { delivered: 1, dead: 0, retries: 0, failed: 0 } });
    assert.equal(recv.requests.length, 1);
    const q = recv.requests[0]!;
    assert.ok(q.signatureOk);
    const m = q.body.message;
    assert.equal(m.ArchiveId, sha256(raw));
    // The small attachment inline, the large one a reference with a signed Url under publicUrl.
    const inline = m.Attachments.find((a) => a.Name === small.name)!;
    assert.ok(Buffer.from(inline.Content as string, 'base64').equals(small.bytes));
    const bigAttr = m.Attachments.find((a) => a.Name === big.name)!;
    assert.equal(bigAttr.Sha256, sha256(big.bytes));
    const ref = (bigAttr.Content as { Reference: Reference }).Reference;
    assert.deepEqual(Object.keys(ref), ['ArchiveId', 'Sha256', 'Url']);
    assert.equal(ref.ArchiveId, m.ArchiveId);
    assert.equal(ref.Sha256, bigAttr.Sha256);
    const url = new URL(ref.Url!);
    assert.equal(`${url.origin}${url.pathname}`, `${publicUrl}/api/v1/messages/${ref.ArchiveId}/attachments/${ref.Sha256}`);
    const expires = Number(url.searchParams.get('expires'));
    assert.ok(expires >= started + 3600 && expires <= Math.floor(Date.now() / 1000) + 3600, `expires ${expires} is about an hour after the request`);

    assert.equal(seen.good?.status, 200);
    assert.equal(sha256(seen.good!.body), ref.Sha256, "the bytes' SHA-256 is the payload's Sha256");
    assert.ok(seen.good!.body.equals(big.bytes), 'exactly the attachment');
    assert.equal(seen.good!.type, 'application/pdf');
    assert.equal(seen.good!.length, String(big.bytes.length));
    assert.deepEqual([seen.tampered?.status, seen.tampered?.code], [403, 'API_FORBIDDEN']);
    assert.deepEqual([seen.expired?.status, seen.expired?.code], [403, 'API_FORBIDDEN']);
    assert.deepEqual([seen.wrongSha?.status, seen.wrongSha?.code], [404, 'API_NOT_FOUND']);
    assert.equal(seen.health?.status, 200);

    // The drain has ended, and its API with it.
    await assert.rejects(fetch(`${publicUrl}/healthz`));
  } finally {
    await recv.close();
    ws.cleanup();
  }
});

test('a port in use stops drain with API_LISTEN_FAILED naming the address, before anything is taken', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [messageWithAttachments('Kept', [small])]);
  const holder: Server = createServer();
  holder.listen(0, '127.0.0.1');
  await once(holder, 'listening');
  const port = (holder.address() as AddressInfo).port;
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user)],
    api: { listen: `127.0.0.1:${port}` },
    routes: [{ name: 'hook', connection: 'journal', scenario: [{ action: 'webhook', url: 'http://127.0.0.1:9/hook' }] }],
  });
  try {
    const r = await runCli(['drain'], ws);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `mailsluice: API_LISTEN_FAILED: the API cannot listen on 127.0.0.1:${port}: the address is already in use (another mailsluice start or drain, or another program, listens there); choose another api.listen, or set api.enabled: false`);
    const stats = await runCli(['stats', '--json'], ws);
    assert.equal((JSON.parse(stats.stdout) as { messages: number }).messages, 0, 'nothing was taken');
  } finally {
    holder.close();
    ws.cleanup();
  }
});

test('start: references stay fetchable while the service runs (the receiver fetches after answering); /healthz, /readyz with the live runner state; management paths need credentials; the API closes on SIGTERM', async () => {
  const user = await dovecot.createUser();
  const raw = messageWithAttachments('Fetched later', [big]);
  await dovecot.loadMaildir(user.username, [raw]);
  const port = await freePort();
  const recv = await startWebhookReceiver();
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user)],
    api: { listen: `127.0.0.1:${port}` },
    routes: [{ name: 'hook', connection: 'journal', scenario: [{ action: 'webhook', url: recv.url, inlineAttachmentsUpTo: 0 }] }],
  });
  const child = spawnCli(['start'], ws);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await waitFor(() => recv.accepted().length === 1, 30_000, `the webhook request (stderr: ${stderr})`);
    const [ref] = references(recv.requests[0]!);
    assert.ok(ref?.Url, 'the reference carries a Url');
    const got = await get(ref.Url);
    assert.equal(got.status, 200);
    assert.equal(sha256(got.body), ref.Sha256);
    assert.ok(got.body.equals(big.bytes));
    const health = await get(`http://127.0.0.1:${port}/healthz`);
    assert.deepEqual([health.status, JSON.parse(health.body.toString('utf8'))], [200, { ok: true }]);
    // The runner's own state, live: it has taken the message and waits for the next poll.
    const ready = await get(`http://127.0.0.1:${port}/readyz`);
    const readyBody = JSON.parse(ready.body.toString('utf8')) as { ready: boolean; connections: Array<{ name: string; state: string | null }> };
    assert.equal(ready.status, 200);
    assert.equal(readyBody.ready, true);
    assert.deepEqual(readyBody.connections.map((c) => c.name), ['journal']);
    assert.ok(['waiting', 'draining', 'connecting'].includes(readyBody.connections[0]!.state ?? ''), `state ${readyBody.connections[0]!.state}`);
    // No tokens exist yet: closed, not open.
    assert.deepEqual([(await get(`http://127.0.0.1:${port}/api/v1/connections`)).status, (await get(`http://127.0.0.1:${port}/api/v1/connections`)).code], [401, 'API_UNAUTHORIZED']);
    assert.match(stderr, new RegExp(`"msg":"api listening".*"address":"127\\.0\\.0\\.1:${port}"`));
  } finally {
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, stderr);
    await recv.close();
    ws.cleanup();
  }
  await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'the API closed with the service');
});
