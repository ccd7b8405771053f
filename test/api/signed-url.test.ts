/**
 * Signed attachment URLs and the key that signs them: a URL verifies exactly as it was made,
 * changing any part of it (path, expiry, signature, method) or letting it expire is
 * API_FORBIDDEN; the key is made once in the data directory (32 bytes, 0600) and kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUrlSigner, loadOrCreateUrlKey, urlSignature, attachmentPath, URL_KEY_FILE, type SignedRequest } from '../../src/api/index.js';
import { isMailsluiceError } from '../../src/core/errors/index.js';

const KEY = Buffer.alloc(32, 7);
const ARCHIVE = 'a'.repeat(64);
const SHA = 'b'.repeat(64);
const NOW = Date.UTC(2026, 0, 1);

/** The request a server sees for `url`. */
function requestOf(url: string, method = 'GET'): SignedRequest {
  const u = new URL(url);
  return { method, path: u.pathname, expires: u.searchParams.get('expires'), signature: u.searchParams.get('signature') };
}

function forbidden(fn: () => void, why: RegExp): void {
  assert.throws(fn, (err: unknown) => isMailsluiceError(err, 'API_FORBIDDEN') && why.test(err.message));
}

test('a URL made by the signer verifies, under publicUrl, until it expires', () => {
  const signer = createUrlSigner(KEY, { publicUrl: 'https://mail.example.com/sluice/', ttlSeconds: 3600 });
  const url = signer.attachmentUrl(ARCHIVE, SHA, NOW);
  const expires = NOW / 1000 + 3600;
  assert.equal(url, `https://mail.example.com/sluice/api/v1/messages/${ARCHIVE}/attachments/${SHA}?expires=${expires}&signature=${urlSignature(KEY, 'GET', attachmentPath(ARCHIVE, SHA), expires)}`);
  // The signature covers the API's own path: a reverse proxy strips the prefix before the server sees it.
  const seen = { ...requestOf(url), path: attachmentPath(ARCHIVE, SHA) };
  signer.verify(seen, NOW);
  signer.verify(seen, NOW + 3599_999);
  signer.verify({ ...seen, method: 'HEAD' }, NOW);
  forbidden(() => signer.verify(seen, NOW + 3600_000), /expired at 2026-01-01T01:00:00.000Z/);
});

test('changing any part of a signed URL breaks it', () => {
  const signer = createUrlSigner(KEY, { publicUrl: 'http://127.0.0.1:8025', ttlSeconds: 600 });
  const good = requestOf(signer.attachmentUrl(ARCHIVE, SHA, NOW));
  signer.verify(good, NOW);
  const sig = good.signature!;
  const flipped = (sig[0] === '0' ? '1' : '0') + sig.slice(1);
  forbidden(() => signer.verify({ ...good, signature: flipped }, NOW), /does not match/);
  forbidden(() => signer.verify({ ...good, path: attachmentPath(ARCHIVE, 'c'.repeat(64)) }, NOW), /does not match/);
  forbidden(() => signer.verify({ ...good, path: attachmentPath('c'.repeat(64), SHA) }, NOW), /does not match/);
  forbidden(() => signer.verify({ ...good, expires: String(Number(good.expires) + 1) }, NOW), /does not match/);
  forbidden(() => signer.verify({ ...good, method: 'POST' }, NOW), /does not match/);
  // Another installation's key signs other URLs.
  const other = createUrlSigner(Buffer.alloc(32, 8), { publicUrl: 'http://127.0.0.1:8025', ttlSeconds: 600 });
  forbidden(() => other.verify(good, NOW), /does not match/);
  forbidden(() => signer.verify({ ...good, signature: null }, NOW), /no signature/);
  forbidden(() => signer.verify({ ...good, expires: null }, NOW), /no signature/);
  forbidden(() => signer.verify({ ...good, signature: sig.toUpperCase() }, NOW), /malformed/);
  forbidden(() => signer.verify({ ...good, signature: sig.slice(2) }, NOW), /malformed/);
  forbidden(() => signer.verify({ ...good, expires: '1e12' }, NOW), /malformed/);
});

test('a signed URL whose expiry is past is refused even with a good signature', () => {
  const signer = createUrlSigner(KEY, { publicUrl: 'http://127.0.0.1:8025', ttlSeconds: 600 });
  const path = attachmentPath(ARCHIVE, SHA);
  const past = NOW / 1000 - 1;
  forbidden(() => signer.verify({ method: 'GET', path, expires: String(past), signature: urlSignature(KEY, 'GET', path, past) }, NOW), /expired/);
});

test('a key that is not 32 bytes is refused', () => {
  assert.throws(() => createUrlSigner(Buffer.alloc(16), { publicUrl: 'http://x', ttlSeconds: 60 }), (e: unknown) => isMailsluiceError(e, 'API_URL_KEY_UNUSABLE'));
});

test('the key file is made once (32 bytes, mode 0600), reused after, and refused when altered', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-urlkey-'));
  try {
    const data = join(dir, 'data');
    // Several at once (drain beside start): one key, and every caller gets it.
    const made = await Promise.all([loadOrCreateUrlKey(data), loadOrCreateUrlKey(data), loadOrCreateUrlKey(data)]);
    const file = join(data, URL_KEY_FILE);
    assert.equal(made.filter((m) => m.created).length, 1);
    for (const m of made) assert.ok(m.key.equals(made[0]!.key));
    assert.equal(made[0]!.key.length, 32);
    assert.ok(readFileSync(file).equals(made[0]!.key));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(data), [URL_KEY_FILE], 'no temporary file is left behind');
    const again = await loadOrCreateUrlKey(data);
    assert.equal(again.created, false);
    assert.ok(again.key.equals(made[0]!.key));
    writeFileSync(file, Buffer.alloc(31));
    await assert.rejects(loadOrCreateUrlKey(data), (e: unknown) => isMailsluiceError(e, 'API_URL_KEY_UNUSABLE') && e.message.includes(file));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
