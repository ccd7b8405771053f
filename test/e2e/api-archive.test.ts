/**
 * Issue 14, item 1, the archive over HTTP: a search's `total` (exact up to a cap, then `more`)
 * and each hit's excerpt, cut from the message read again from the archive, the matched words
 * marked «…»; the export of a search result as mbox and zip, audited, refused to a viewer;
 * against a real `start` after a real drain from Dovecot.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { API_TUNING, createApiApp, type ApiDeps } from '../../src/api/index.js';
import type { SearchQuery } from '../../src/core/ports/search-index.js';
import { callApi, createToken, startService, type Body, drainedWithApi } from '../harness/api-client.js';

const dovecot = dovecotPerFile();

type Hit = { archiveId: string; subject: string; excerpt: string };

/** A plain-text message whose body holds `body`. */
function plainMessage(i: number, subject: string, body: string): Buffer {
  return Buffer.from(
    [
      `From: "Sender ${i}" <sender${i}@example.test>`,
      'To: team@example.test',
      `Subject: ${subject}`,
      `Date: ${new Date(Date.UTC(2026, 0, 1) + i * 60000).toUTCString().replace('GMT', '+0000')}`,
      `Message-ID: <archive-${i}@test.mailsluice.invalid>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      body,
      '',
    ].join('\r\n'),
  );
}

test('start: a search answers its total and, per hit, an excerpt around the matched word, marked; without text, the beginning of the text', async () => {
  const user = await dovecot.createUser();
  const filler = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(20);
  await dovecot.loadMaildir(user.username, [
    plainMessage(1, 'Quarterly numbers', `${filler}The Zanzibar forecast grew by nine percent. ${filler}`),
    plainMessage(2, 'Travel', `Flights to zanzibar are booked.\r\n${filler}`),
    makeMessage(3, { bodyBytes: 500 }),
  ]);
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user)] });
  const auditor = await createToken(ws, 'legal', 'auditor');
  const service = await startService(ws, base);
  try {
    const found = await callApi(`${base}/api/v1/messages?text=zanzibar`, auditor);
    assert.equal(found.status, 200, found.raw);
    assert.deepEqual([found.body.total, found.body.more], [2, false]);
    const hits = found.body.hits as Hit[];
    assert.deepEqual(hits.map((h) => h.subject), ['Travel', 'Quarterly numbers']);
    assert.match(hits[0]!.excerpt, /^Flights to «zanzibar» are booked\. Lorem/);
    const deep = hits[1]!.excerpt;
    assert.match(deep, /^….*The «Zanzibar» forecast grew by nine percent\..*…$/, 'cut around the word deep in the body, marked as written');
    assert.ok(deep.length <= 210, `about 200 characters: ${deep.length}`);

    const prefix = await callApi(`${base}/api/v1/messages?text=${encodeURIComponent('forecas* grew')}`, auditor);
    assert.match((prefix.body.hits as Hit[])[0]!.excerpt, /«forecast» «grew»/, 'a prefix marks the whole word');

    const all = await callApi(`${base}/api/v1/messages?limit=1`, auditor);
    assert.deepEqual([all.body.total, all.body.more], [3, false], 'the total counts every page');
    assert.ok(typeof all.body.nextCursor === 'string' && all.body.next === all.body.nextCursor, 'a next page, by its opaque cursor');
    const first = (all.body.hits as Hit[])[0]!;
    assert.ok(first.excerpt.length > 0 && !first.excerpt.includes('«'), 'no text term: the beginning of the text, unmarked');

    const none = await callApi(`${base}/api/v1/messages?text=nothing-like-this`, auditor);
    assert.deepEqual([none.body.total, none.body.more, none.body.hits], [0, false, []]);
  } finally {
    await service.stop();
  }
});

test('beyond the cap the total stops there and says more', async () => {
  // The index's count is asked up to the cap, in the page's time; what it answers decides `more`.
  const matching = 7;
  const asked: Array<[SearchQuery, number | undefined]> = [];
  const deps = {
    authorize: async () => ({ name: 'legal', role: 'auditor' }),
    search: {
      search: async () => [],
      count: async (q: SearchQuery, withinMs?: number) => {
        asked.push([q, withinMs]);
        const cap = q.limit ?? Infinity;
        return { total: Math.min(matching, cap), more: matching > cap };
      },
    },
    archive: { findArchived: async () => null, stats: async () => ({}) },
    now: () => Date.now(),
    logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } },
  } as unknown as ApiDeps;
  for (const [cap, total, more] of [[5, 5, true], [7, 7, false], [10, 7, false]] as const) {
    const res = await createApiApp({ ...deps, searchTotalCap: cap }).request('/api/v1/messages?text=x&from=bob');
    const body = (await res.json()) as Body;
    assert.deepEqual([res.status, body.total, body.more], [200, total, more], `cap ${cap}`);
    // The text read into the query language's tree before the index is asked.
    assert.deepEqual(asked.pop(), [{ query: { kind: 'text', field: 'any', value: 'x', match: 'word' }, from: 'bob', limit: cap }, API_TUNING.searchCountWithinMs]);
  }
});

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The messages of an mboxrd file, unquoted: what was between one `From ` line and the next, less the blank line. */
function mboxMessages(mbox: Buffer): Buffer[] {
  const text = mbox.toString('latin1');
  assert.ok(text.startsWith('From '), 'an mbox begins with a From line');
  const entries = text.split(/(?:^|\n)From [^\n]*\n/u).slice(1);
  return entries.map((e, i) => {
    // Every entry but the last lost its final newline to the split; each ends with the blank line.
    const whole = i < entries.length - 1 ? `${e}\n` : e;
    assert.ok(whole.endsWith('\n\n'), 'a blank line after each message');
    return Buffer.from(whole.slice(0, -1).replace(/^>(>*From )/gmu, '$1'), 'latin1');
  });
}

test('start: an auditor exports a search as mbox and as zip, byte for byte, audited; a viewer is refused', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [
    plainMessage(1, 'Quoting', 'First line\r\nFrom here on, quoted\r\n>From already quoted\r\n>>From twice\r\n'),
    makeMessage(2, { bodyBytes: 800 }),
    makeMessage(3, { bodyBytes: 300, attachmentBytes: 2000 }),
    makeMessage(4, { bodyBytes: 300, tag: 'leftout' }),
  ]);
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user)] });
  const auditor = await createToken(ws, 'legal', 'auditor');
  const viewer = await createToken(ws, 'ops', 'viewer');
  const service = await startService(ws, base);
  try {
    const everything = await callApi(`${base}/api/v1/messages`, auditor);
    const all = (everything.body.hits as Array<Hit & { subject: string }>);
    const wanted = all.filter((h) => !h.subject.includes('leftout')).map((h) => h.archiveId).sort();
    assert.equal(wanted.length, 3);
    const filter = `before=${encodeURIComponent('2026-01-01T00:03:30Z')}`;

    const refused = await fetch(`${base}/api/v1/messages/export?format=mbox&${filter}`, { headers: { authorization: `Bearer ${viewer}` } });
    assert.equal(refused.status, 403);

    const mbox = await fetch(`${base}/api/v1/messages/export?format=mbox&${filter}`, { headers: { authorization: `Bearer ${auditor}` } });
    assert.equal(mbox.status, 200);
    assert.equal(mbox.headers.get('content-type'), 'application/mbox');
    assert.match(mbox.headers.get('content-disposition') ?? '', /^attachment; filename="mailsluice-export\.mbox"$/);
    const mboxBytes = Buffer.from(await mbox.arrayBuffer());
    assert.match(mboxBytes.toString('latin1'), /\n>From here on, quoted\r\n>>From already quoted\r\n>>>From twice/u, 'From lines quoted (mboxrd)');
    assert.deepEqual(mboxMessages(mboxBytes).map(sha256).sort(), wanted, 'every message, byte for byte');

    const zip = await fetch(`${base}/api/v1/messages/export?format=zip&${filter}`, { headers: { authorization: `Bearer ${auditor}` } });
    assert.equal(zip.status, 200);
    assert.equal(zip.headers.get('content-type'), 'application/zip');
    const dir = mkdtempSync(join(tmpdir(), 'mailsluice-export-'));
    writeFileSync(join(dir, 'export.zip'), Buffer.from(await zip.arrayBuffer()));
    execFileSync('unzip', ['-q', join(dir, 'export.zip'), '-d', join(dir, 'out')]);
    const manifestLines = readFileSync(join(dir, 'out', 'manifest.jsonl'), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    const header = manifestLines.shift()!;
    const end = manifestLines.pop()!;
    const manifest = { messages: manifestLines as Array<{ file: string; sha256: string; size: number; connection: string }> };
    assert.deepEqual(header.query, { before: '2026-01-01T00:03:30Z' }, 'the manifest says what was asked');
    assert.deepEqual([end.end, end.messages, end.files], [true, 3, 3]);
    assert.deepEqual(manifest.messages.map((m) => m.sha256).sort(), wanted);
    assert.deepEqual(readdirSync(join(dir, 'out')).sort(), ['manifest.jsonl', ...wanted.map((w) => `${w}.eml`)].sort());
    for (const m of manifest.messages) {
      const bytes = readFileSync(join(dir, 'out', m.file));
      assert.deepEqual([sha256(bytes), bytes.length, m.connection], [m.sha256, m.size, 'journal'], m.file);
    }

    // The end of an export is recorded once the service saw its last byte taken: waited for.
    let exports: Array<{ action: string; detail: Record<string, unknown> }> = [];
    for (const until = Date.now() + 10_000; exports.length < 4 && Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
      const audit = await callApi(`${base}/api/v1/audit?who=legal`, auditor);
      exports = (audit.body.records as typeof exports).filter((r) => r.action.startsWith('archive.export'));
    }
    assert.deepEqual(
      exports.map((r) => [r.action, r.detail.format, r.detail.before, r.detail.messages]),
      [['archive.export', 'mbox', '2026-01-01T00:03:30Z', undefined], ['archive.export.done', 'mbox', '2026-01-01T00:03:30Z', 3], ['archive.export', 'zip', '2026-01-01T00:03:30Z', undefined], ['archive.export.done', 'zip', '2026-01-01T00:03:30Z', 3]],
      'each export recorded before it ran, and when its last byte was taken with its count',
    );
  } finally {
    await service.stop();
  }
});
