/** The export's mbox entries, and that an export reads messages only as its client takes them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { fromLine, mboxEntry } from '../../src/api/routes/export.js';
import { createApiApp, type ApiDeps } from '../../src/api/index.js';

test('mbox entry: From line with the sender address and asctime date, mboxrd quoting, a blank line after', () => {
  const hit = { from: 'Bob <bob@example.test>', date: '2024-03-08T09:05:07.000Z' };
  assert.equal(fromLine(hit), 'From bob@example.test Fri Mar  8 09:05:07 2024\n');
  assert.equal(fromLine({ from: '', date: null }), 'From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n');
  const raw = Buffer.from('Subject: x\r\n\r\nFrom me\r\n>From you\r\nnot From\r\n\xff', 'latin1');
  assert.equal(mboxEntry(hit, raw).toString('latin1'), `${fromLine(hit)}Subject: x\r\n\r\n>From me\r\n>>From you\r\nnot From\r\n\xff\n\n`, 'no newline at the end: one added before the blank line');
});

test('an export reads each message only when the client has taken the one before', async () => {
  let reads = 0;
  const hits = Array.from({ length: 50 }, (_, i) => ({ id: i, sha256: i.toString(16).padStart(64, '0'), connection: 'c', from: '', subject: '', date: null, size: 64 * 1024 }));
  const deps = {
    authorize: async () => ({ name: 'legal', role: 'auditor' }),
    search: { search: async () => hits, count: async () => hits.length },
    archive: { findArchived: async (sha256: string) => ({ sha256, size: 64 * 1024, blob: { ref: sha256 } }), stats: async () => ({}) },
    blobs: { read: async () => (reads++, new Uint8Array(64 * 1024).fill(0x61)) },
    now: () => Date.now(),
    logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } },
  } as unknown as ApiDeps;
  for (const format of ['mbox', 'zip']) {
    reads = 0;
    const res = await createApiApp(deps).request(`/api/v1/messages/export?format=${format}`);
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    await reader.read();
    await sleep(50);
    assert.ok(reads <= 4, `${format}: ${reads} of 50 messages read before the client took more`);
    let bytes = 0;
    for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.byteLength;
    assert.equal(reads, 50, `${format}: every message in the end`);
    assert.ok(bytes > 50 * 64 * 1024 - 65536);
  }
});
