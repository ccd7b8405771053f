/**
 * The export's mbox entries (mboxrd quoting however the bytes are cut into chunks), the zip's
 * manifest, and that an export reads messages only as its client takes them, page after page.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fromLine, mboxEntry } from '../../src/api/routes/export.js';
import { MboxrdQuoter } from '../../src/api/export-writer.js';
import { createApiApp, type ApiDeps } from '../../src/api/index.js';
import type { ExportItem } from '../../src/core/ports/archive-reader.js';
import type { SearchQuery } from '../../src/core/ports/search-index.js';

test('mbox entry: From line with the sender address and asctime date, mboxrd quoting, a blank line after', () => {
  const hit = { from: 'Bob <bob@example.test>', date: '2024-03-08T09:05:07.000Z' };
  assert.equal(fromLine(hit), 'From bob@example.test Fri Mar  8 09:05:07 2024\n');
  assert.equal(fromLine({ from: '', date: null }), 'From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n');
  const raw = Buffer.from('Subject: x\r\n\r\nFrom me\r\n>From you\r\nnot From\r\n\xff', 'latin1');
  assert.equal(mboxEntry(hit, raw).toString('latin1'), `${fromLine(hit)}Subject: x\r\n\r\n>From me\r\n>>From you\r\nnot From\r\n\xff\n\n`, 'no newline at the end: one added before the blank line');
  const ended = Buffer.from('From x\r\n', 'latin1');
  assert.equal(mboxEntry(hit, ended).toString('latin1'), `${fromLine(hit)}>From x\r\n\n`, 'a message that ends with a newline: only the blank line after it');
  assert.equal(mboxEntry(hit, Buffer.from('a\rFrom b\n')).toString('latin1'), `${fromLine(hit)}a\rFrom b\n\n`, 'a bare CR starts no line (readers split at LF)');
});

test('mboxrd quoting is the same however the message is cut into chunks', () => {
  const text = 'From a\n>From b\n>>>From c\nx From d\n>Fro\n>>\nFrom\nFrom \n>From';
  const whole = new MboxrdQuoter();
  const expected = Buffer.concat([whole.push(Buffer.from(text, 'latin1')), whole.end(false)]).toString('latin1');
  assert.equal(expected, '>From a\n>>From b\n>>>>From c\nx From d\n>Fro\n>>\nFrom\n>From \n>From\n', 'a last >From without its space is no From line');
  for (let cut = 1; cut < text.length; cut++) {
    for (let cut2 = cut; cut2 < text.length; cut2 += 3) {
      const q = new MboxrdQuoter();
      const parts = [text.slice(0, cut), text.slice(cut, cut2), text.slice(cut2)].map((p) => q.push(Buffer.from(p, 'latin1')));
      assert.equal(Buffer.concat([...parts, q.end(false)]).toString('latin1'), expected, `cut at ${cut} and ${cut2}`);
    }
  }
});

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** `n` messages of `size` bytes, and an API over them that counts its blob reads and search pages. */
function exportDeps(n: number, size: number): { deps: ApiDeps; reads: () => number; searches: SearchQuery[]; items: ExportItem[] } {
  let reads = 0;
  const searches: SearchQuery[] = [];
  const items: ExportItem[] = Array.from({ length: n }, (_, i) => {
    const bytes = Buffer.alloc(size, 0x61 + (i % 26));
    bytes.write(`Message-ID: <${i}@x>\r\n`);
    return { id: i + 1, sha256: sha(bytes), size, blob: { ref: String(i), storedSize: size }, takenAt: Date.UTC(2026, 0, 1, 0, i), connection: 'c', mailbox: 'INBOX', from: '', date: null, messageId: `${i}@x` };
  });
  const bytesOf = (ref: string): Buffer => {
    const b = Buffer.alloc(size, 0x61 + (Number(ref) % 26));
    b.write(`Message-ID: <${ref}@x>\r\n`);
    return b;
  };
  const newestFirst = [...items].reverse();
  const deps = {
    authorize: async () => ({ name: 'legal', role: 'auditor' }),
    search: {
      search: async (q: SearchQuery) => {
        searches.push(q);
        return newestFirst.filter((x) => q.beforeId === undefined || x.id < q.beforeId).slice(0, q.limit).map((x) => ({ id: x.id, sha256: x.sha256, connection: 'c', from: '', subject: '', date: null, size }));
      },
      count: async () => ({ total: n, more: false }),
    },
    archive: {
      findArchived: async () => null,
      stats: async () => ({}),
      exportItemsOf: async (ids: number[]) => ids.map((id) => items[id - 1]!),
      listForExport: async function* () {
        yield* items;
      },
    },
    blobs: {
      read: async () => assert.fail('an export streams'),
      stream: async function* (loc: { ref: string }) {
        reads++;
        yield bytesOf(loc.ref);
      },
    },
    now: () => Date.now(),
    logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } },
  } as unknown as ApiDeps;
  return { deps, reads: () => reads, searches, items };
}

test('an export reads each message only when the client has taken the one before', async () => {
  const { deps, reads } = exportDeps(50, 64 * 1024);
  for (const format of ['mbox', 'zip']) {
    const before = reads();
    const res = await createApiApp(deps).request(`/api/v1/messages/export?format=${format}&text=word`);
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    await reader.read();
    await sleep(50);
    assert.ok(reads() - before <= 4, `${format}: ${reads() - before} of 50 messages read before the client took more`);
    let bytes = 0;
    for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.byteLength;
    assert.equal(reads() - before, 50, `${format}: every message in the end`);
    assert.ok(bytes > 50 * 64 * 1024 - 65536);
  }
});

test('a query export walks the search page after page with the cursor, past any one page', async () => {
  const { deps, searches } = exportDeps(1234, 100);
  const res = await createApiApp(deps).request('/api/v1/messages/export?format=mbox&text=word');
  const mbox = Buffer.from(await res.arrayBuffer()).toString('latin1');
  assert.equal(mbox.match(/^From /gm)?.length, 1234, 'every message, not one page');
  assert.deepEqual(searches.map((q) => q.beforeId), [undefined, 735, 235], 'pages of 500, each below the last hit');
  // The API hands the search its query parsed (`q` or `text`, the same language).
  assert.ok(searches.every((q) => q.query?.kind === 'text' && q.query.value === 'word' && q.limit === 500), JSON.stringify(searches[0]));
});

test('a message whose bytes are not its ArchiveId stops the export', async () => {
  const { deps } = exportDeps(3, 100);
  const bad = { ...deps, blobs: { ...deps.blobs, stream: async function* () { yield Buffer.alloc(100, 0x7a); } } } as unknown as ApiDeps;
  const res = await createApiApp(bad).request('/api/v1/messages/export?format=zip');
  await assert.rejects(res.arrayBuffer(), 'the stream fails: a client sees a broken download, never a whole zip');
});
