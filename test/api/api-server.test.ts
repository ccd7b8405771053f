/**
 * The API server on a real archive (SQLite store, pack-file blob store, postal-mime), over real
 * HTTP on loopback: the attachment endpoint serves exactly the attachment's bytes with safe
 * headers under a signed URL, and answers 400 / 403 / 404 / 405 with catalogue codes in the
 * order its contract says; /healthz and the OpenAPI document; a port in use.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStore, type SqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { createFsBlobStore } from '../../src/adapters/blob-fs/index.js';
import { parseToOutcome, postalMimeAttachmentFinder } from '../../src/adapters/parser-postal-mime/index.js';
import { JsonlLogger } from '../../src/adapters/logger-jsonl/index.js';
import { DEFAULT_PARSE_LIMITS } from '../../src/core/message/limits.js';
import { isMailsluiceError } from '../../src/core/errors/index.js';
import type { BlobStore } from '../../src/core/ports/blob-store.js';
import {
  attachmentPath,
  createUrlSigner,
  openApiDocument,
  startApiServer,
  urlSignature,
  type ApiDeps,
  type ApiServer,
  type UrlSigner,
  API_TUNING,
} from '../../src/api/index.js';
import { messageWithAttachments } from '../harness/attachment-mail.js';
import { ByteBudget, PARSE_CHARGE_FACTOR } from '../../src/core/memory/byte-budget.js';

const KEY = randomBytes(32);
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const big = { name: 'Отчёт "Q3"/final (1).pdf', type: 'application/pdf', bytes: randomBytes(300 * 1024) };
const page = { name: 'page.html', type: 'text/html', bytes: Buffer.from('<script>alert(1)</script>') };
const raw = messageWithAttachments('Quarterly report', [big, page]);
const rawUnparsed = messageWithAttachments('Not parsed yet', [{ name: 'a.bin', type: 'application/octet-stream', bytes: randomBytes(1000) }]);

let dir: string;
let store: SqliteStore;
let blobs: BlobStore;
let server: ApiServer;
let deps: ApiDeps;
/** Makes URLs for the running server with the server's key. */
let urls: UrlSigner;
let base: string;

async function* one(b: Buffer): AsyncIterable<Uint8Array> {
  yield b;
}

/** Archives `bytes` as taken by `connection`; parses it unless told not to. */
async function archive(bytes: Buffer, uid: number, options: { connection?: string; parse?: boolean } = {}): Promise<void> {
  const w = await blobs.openWriter();
  const put = await w.put(one(bytes), (h) => store.hasBlob(h), { buffered: true });
  await w.sync();
  await w.close();
  const connection = options.connection ?? 'journal';
  await store.commitTaken([
    { connection, sourceKey: `imap:INBOX:1:${uid}`, mailbox: 'INBOX', uidValidity: 1, uid, uidl: null, sha256: put.sha256, size: put.size, blob: put.location, takenAt: Date.now() },
  ]);
  if (options.parse === false) return;
  const waiting = (await store.listUnparsed(100)).filter((m) => m.sha256 === put.sha256);
  await store.saveParsed(await Promise.all(waiting.map(async (m) => ({ id: m.id, outcome: await parseToOutcome(bytes, DEFAULT_PARSE_LIMITS) }))));
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ms-api-'));
  store = createSqliteStore({ file: join(dir, 'data', 'archive.db') });
  blobs = await createFsBlobStore({ directory: join(dir, 'data', 'blobs') });
  await archive(raw, 1);
  // The same bytes taken by a second connection: one blob, two messages.
  await archive(raw, 1, { connection: 'second' });
  await archive(rawUnparsed, 2, { parse: false });
  deps = {
    archive: store,
    search: store,
    connections: { configured: () => [], statuses: () => [] },
    blobs,
    attachments: postalMimeAttachmentFinder,
    signer: createUrlSigner(KEY, { publicUrl: 'http://unused.invalid', ttlSeconds: 600 }),
    now: () => Date.now(),
    logger: new JsonlLogger([]),
  };
  server = await startApiServer(deps, { host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${server.port}`;
  urls = createUrlSigner(KEY, { publicUrl: base, ttlSeconds: 600 });
});

after(async () => {
  await server?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A URL of `path` signed with the server's key, expiring at `expires` (seconds). */
function signed(path: string, expires = Math.floor(Date.now() / 1000) + 600): string {
  return `${base}${path}?expires=${expires}&signature=${urlSignature(KEY, 'GET', path, expires)}`;
}

async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
  return (await res.json()) as { code: string; message: string };
}

test('a signed URL serves exactly the attachment, with its type, length and a safely encoded file name', async () => {
  const archiveId = sha256(raw);
  const res = await fetch(urls.attachmentUrl(archiveId, sha256(big.bytes), Date.now()));
  assert.equal(res.status, 200);
  const body = Buffer.from(await res.arrayBuffer());
  assert.ok(body.equals(big.bytes), 'the decoded bytes of the attachment');
  assert.equal(res.headers.get('content-type'), 'application/pdf');
  assert.equal(res.headers.get('content-length'), String(big.bytes.length));
  const disposition = res.headers.get('content-disposition')!;
  const ascii = /filename="([^"]*)"/.exec(disposition)?.[1];
  const utf8 = /filename\*=UTF-8''(\S+)$/.exec(disposition)?.[1];
  assert.match(disposition, /^attachment; /);
  assert.equal(ascii, '_____ _Q3__final (1).pdf', 'ASCII only, no quote, no path separator');
  assert.equal(decodeURIComponent(utf8!), 'Отчёт "Q3"_final (1).pdf', 'the exact name, but for the path separator');
  assert.ok(!/[()'*]/.test(utf8!), 'filename* uses attr-chars only');
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(res.headers.get('cache-control'), 'no-store');
});

test('HTML from mail is served as it is typed, but sandboxed and never sniffed; HEAD has the headers only', async () => {
  const url = urls.attachmentUrl(sha256(raw), sha256(page.bytes), Date.now());
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/html');
  assert.equal(res.headers.get('content-security-policy'), "default-src 'none'; sandbox");
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(page.bytes));
  const head = await fetch(url, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), String(page.bytes.length));
  assert.equal((await head.arrayBuffer()).byteLength, 0);
});

test('a tampered or expired URL is 403 and tells nothing about the archive', async () => {
  const good = new URL(urls.attachmentUrl(sha256(raw), sha256(big.bytes), Date.now()));
  const sig = good.searchParams.get('signature')!;
  const tampered = new URL(good);
  tampered.searchParams.set('signature', (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1));
  let res = await fetch(tampered);
  assert.equal(res.status, 403);
  assert.deepEqual(await errorOf(res), { code: 'API_FORBIDDEN', message: 'the URL signature does not match (the URL was changed, or signed with another key)' });
  const later = new URL(good);
  later.searchParams.set('expires', String(Number(good.searchParams.get('expires')) + 3600));
  assert.equal((await fetch(later)).status, 403, 'a longer life is not the signer\'s');
  res = await fetch(signed(attachmentPath(sha256(raw), sha256(big.bytes)), Math.floor(Date.now() / 1000) - 5));
  assert.equal(res.status, 403);
  assert.match((await errorOf(res)).message, /^the URL expired at /);
  // Unsigned: the same 403 whether or not the message exists.
  for (const archiveId of [sha256(raw), 'f'.repeat(64)]) {
    res = await fetch(`${base}${attachmentPath(archiveId, sha256(big.bytes))}`);
    assert.equal(res.status, 403);
    assert.equal((await errorOf(res)).code, 'API_FORBIDDEN');
  }
});

test('a signed URL of a message or attachment that does not exist is 404; one not parsed yet too', async () => {
  let res = await fetch(signed(attachmentPath('f'.repeat(64), sha256(big.bytes))));
  assert.equal(res.status, 404);
  assert.deepEqual(await errorOf(res), { code: 'API_NOT_FOUND', message: `no archived message ${'f'.repeat(64)}` });
  // A part of the message that is not one of its attachments (here: the text body) is not served.
  res = await fetch(signed(attachmentPath(sha256(raw), sha256(Buffer.from('The files are attached.')))));
  assert.equal(res.status, 404);
  assert.equal((await errorOf(res)).code, 'API_NOT_FOUND');
  res = await fetch(signed(attachmentPath(sha256(rawUnparsed), 'e'.repeat(64))));
  assert.equal(res.status, 404);
});

test('malformed ids are 400 before any signature is looked at; a wrong method is 405; an unknown path 404', async () => {
  for (const path of [attachmentPath(sha256(raw).toUpperCase(), sha256(big.bytes)), attachmentPath(sha256(raw), 'abc'), attachmentPath('g'.repeat(64), sha256(big.bytes))]) {
    const res = await fetch(`${base}${path}`);
    assert.equal(res.status, 400, path);
    assert.equal((await errorOf(res)).code, 'API_BAD_REQUEST');
  }
  const post = await fetch(urls.attachmentUrl(sha256(raw), sha256(big.bytes), Date.now()), { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  assert.equal((await errorOf(post)).code, 'API_METHOD_NOT_ALLOWED');
  const none = await fetch(`${base}/api/v1/nothing-here`);
  assert.equal(none.status, 404);
  assert.equal((await errorOf(none)).code, 'API_NOT_FOUND');
});

test('GET /healthz and the OpenAPI document', async () => {
  const health = await fetch(`${base}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { ok: true });
  const doc = await fetch(`${base}/api/v1/openapi.json`);
  assert.equal(doc.status, 200);
  assert.deepEqual(await doc.json(), JSON.parse(JSON.stringify(openApiDocument())));
});

test('a second server on the same port fails with API_LISTEN_FAILED naming the address', async () => {
  await assert.rejects(
    startApiServer(deps, { host: '127.0.0.1', port: server.port }),
    (e: unknown) => isMailsluiceError(e, 'API_LISTEN_FAILED') && e.message.includes(`127.0.0.1:${server.port}`) && /already in use/.test(e.message),
  );
});

test('the store finds an archived message by ArchiveId across connections, and knows when it is not parsed', async () => {
  const found = await store.findArchived(sha256(raw));
  assert.ok(found);
  assert.equal(found.size, raw.length);
  assert.deepEqual(
    found.attachments?.map((a) => [a.Name, a.Sha256]),
    [
      [big.name, sha256(big.bytes)],
      [page.name, sha256(page.bytes)],
    ],
  );
  const unparsed = await store.findArchived(sha256(rawUnparsed));
  assert.equal(unparsed?.attachments, null);
  assert.equal(await store.findArchived('0'.repeat(64)), null);
});

test('attachment reads beyond those running and queued are refused 503 with Retry-After; the rest hold the byte budget one by one', async () => {
  // A finder that holds every read until told to go: the requests pile up as a burst would.
  let finding = 0;
  let mostAtOnce = 0;
  const gates: Array<() => void> = [];
  const slowFinder: ApiDeps['attachments'] = {
    find: async (bytes, wanted) => {
      finding++;
      mostAtOnce = Math.max(mostAtOnce, finding);
      await new Promise<void>((go) => gates.push(go));
      finding--;
      return postalMimeAttachmentFinder.find(bytes, wanted);
    },
  };
  // Room for one message's read at a time (raw + decoded, ADR 0017), not two.
  const budget = new ByteBudget(raw.length * PARSE_CHARGE_FACTOR + 1);
  const busy = await startApiServer({ ...deps, attachments: slowFinder, budget }, { host: '127.0.0.1', port: 0 });
  try {
    const signer = createUrlSigner(KEY, { publicUrl: `http://127.0.0.1:${busy.port}`, ttlSeconds: 600 });
    const url = signer.attachmentUrl(sha256(raw), sha256(big.bytes), Date.now());
    const accepted = API_TUNING.maxConcurrentAttachmentReads + API_TUNING.maxQueuedAttachmentReads;
    const pending = Array.from({ length: accepted }, () => fetch(url));
    // Let all of them reach the gate before the one too many.
    while (gates.length < 1) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 200));
    // Answered at once, not queued behind the others (which wait for the gates below).
    const refused = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), String(API_TUNING.busyRetryAfterSeconds));
    assert.equal((await errorOf(refused)).code, 'API_BUSY');
    // Let them through one after another; every accepted request gets the whole attachment.
    const answers = Promise.all(pending);
    const release = setInterval(() => gates.shift()?.(), 5);
    try {
      for (const res of await answers) {
        assert.equal(res.status, 200);
        assert.ok(Buffer.from(await res.arrayBuffer()).equals(big.bytes));
      }
    } finally {
      clearInterval(release);
    }
    assert.equal(mostAtOnce, 1, 'the byte budget let one read hold its message at a time');
    assert.equal(budget.inUse, 0);
  } finally {
    await busy.close();
  }
});
