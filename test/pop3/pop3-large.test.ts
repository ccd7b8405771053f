/**
 * A 32 MB message through RETR with bounded memory: the client streams it in bounded chunks,
 * never holds the whole message, and leaves unread data in the kernel while the consumer is slow
 * (back-pressure). In a file of its own so no other test's allocations blur the measurements.
 *
 * Node frees Buffers lazily: without a collection, garbage from a stream piles up to V8's
 * external-memory trigger (~35 MB here, whatever the message size). So the test forces a full
 * collection every 2 MB consumed and measures what is still alive, which is what "bounded" means.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import { startDovecot, type DovecotInstance, type TestUser } from '../harness/dovecot.js';
import { Pop3Client } from '../../src/adapters/source-pop3/pop3-client.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const MB = 1024 * 1024;
const SIZE = 32 * MB;

let dovecot: DovecotInstance;
let user: TestUser;
let expected: { sha256: string; length: number };

before(async () => {
  dovecot = await startDovecot();
  user = await dovecot.createUser();
  // Base64-like lines with a dot line every 50 lines, so unstuffing runs all the way through.
  const line = Buffer.from(`${'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0'}\r\n`);
  const dot = Buffer.from('.a line that starts with a dot\r\n');
  const parts: Buffer[] = [Buffer.from('Subject: large\r\nContent-Type: text/plain\r\n\r\n')];
  let size = parts[0]!.length;
  for (let i = 0; size < SIZE; i++) {
    const b = i % 50 === 0 ? dot : line;
    parts.push(b);
    size += b.length;
  }
  const raw = Buffer.concat(parts);
  expected = { sha256: createHash('sha256').update(raw).digest('hex'), length: raw.length };
  await dovecot.loadMaildir(user.username, [raw]);
});

after(async () => {
  await dovecot?.stop();
});

async function connect(): Promise<Pop3Client> {
  return Pop3Client.connect({
    host: dovecot.host,
    port: dovecot.pop3Port,
    security: 'none',
    tls: { rejectUnauthorized: true },
    auth: { type: 'basic', username: user.username, password: user.password, disablePlain: false },
    connectTimeoutMs: 5000,
    dataTimeoutMs: 10000,
  });
}

test('a 32 MB message streams byte-exact in bounded chunks while live memory stays a few MB', async () => {
  const c = await connect();
  assert.equal((await c.list())[0]?.size, expected.length);
  gc();
  gc();
  const base = process.memoryUsage();
  const hash = createHash('sha256');
  let bytes = 0;
  let chunks = 0;
  let maxChunk = 0;
  let peakRss = 0;
  let peakArrayBuffers = 0;
  for await (const chunk of c.retr(1)) {
    hash.update(chunk);
    const before = bytes;
    bytes += chunk.length;
    chunks++;
    maxChunk = Math.max(maxChunk, chunk.length);
    if (Math.floor(bytes / (2 * MB)) !== Math.floor(before / (2 * MB))) {
      gc();
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss - base.rss);
      peakArrayBuffers = Math.max(peakArrayBuffers, m.arrayBuffers - base.arrayBuffers);
    }
  }
  await c.quit();
  assert.equal(bytes, expected.length);
  assert.equal(hash.digest('hex'), expected.sha256);
  const report = `${chunks} chunks, largest ${maxChunk} B; live growth: rss ${(peakRss / MB).toFixed(1)} MB, array buffers ${(peakArrayBuffers / MB).toFixed(1)} MB`;
  assert.ok(chunks >= 64, `streamed in many pieces: ${report}`);
  assert.ok(maxChunk <= 512 * 1024, `no chunk is huge: ${report}`);
  assert.ok(peakArrayBuffers < 8 * MB, `live buffers stay far below the message size: ${report}`);
  assert.ok(peakRss < 12 * MB, `RSS stays far below the message size: ${report}`);
});

test('a paused consumer leaves the message in the kernel: back-pressure, not buffering', async () => {
  const c = await connect();
  gc();
  gc();
  const it = c.retr(1)[Symbol.asyncIterator]();
  const first = await it.next();
  assert.equal(first.done, false);
  const base = process.memoryUsage().arrayBuffers;
  // Dovecot keeps sending; loopback would deliver the whole 32 MB in well under this time.
  await new Promise((r) => setTimeout(r, 500));
  const grown = process.memoryUsage().arrayBuffers - base;
  assert.ok(grown < 2 * MB, `while the consumer paused, ${(grown / MB).toFixed(1)} MB piled up in the process`);
  const hash = createHash('sha256').update(first.value as Uint8Array);
  let bytes = (first.value as Uint8Array).length;
  for (let r = await it.next(); !r.done; r = await it.next()) {
    hash.update(r.value);
    bytes += r.value.length;
  }
  assert.equal(bytes, expected.length);
  assert.equal(hash.digest('hex'), expected.sha256);
  await c.quit();
});
