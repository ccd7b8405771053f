/**
 * Issue 14, item 1, the archive over HTTP: a search's `total` (exact up to a cap, then `more`)
 * and each hit's excerpt, cut from the message read again from the archive, the matched words
 * marked «…»; against a real `start` after a real drain from Dovecot.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, makeWorkspace, runCli } from '../harness/cli.js';
import { freePort } from '../harness/free-port.js';
import { makeMessage } from '../harness/messages.js';
import { createApiApp, type ApiDeps } from '../../src/api/index.js';
import type { SearchQuery } from '../../src/core/ports/search-index.js';
import { callApi, createToken, startService, type Body } from '../harness/api-client.js';

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
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const ws = makeWorkspace({ connections: [imapConnection(dovecot, user)], api: { listen: `127.0.0.1:${port}` } });
  const drained = await runCli(['drain'], ws);
  assert.equal(drained.code, 0, drained.stderr);
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
    assert.deepEqual([all.body.total, all.body.more, all.body.next], [3, false, '1'], 'the total counts every page');
    const first = (all.body.hits as Hit[])[0]!;
    assert.ok(first.excerpt.length > 0 && !first.excerpt.includes('«'), 'no text term: the beginning of the text, unmarked');

    const none = await callApi(`${base}/api/v1/messages?text=nothing-like-this`, auditor);
    assert.deepEqual([none.body.total, none.body.more, none.body.hits], [0, false, []]);
  } finally {
    await service.stop();
  }
});

test('beyond the cap the total stops there and says more', async () => {
  // The index's count is asked one past the cap; what it answers decides `more`.
  const matching = 7;
  const asked: SearchQuery[] = [];
  const deps = {
    authorize: async () => ({ name: 'legal', role: 'auditor' }),
    search: { search: async () => [], count: async (q: SearchQuery) => (asked.push(q), Math.min(matching, q.limit ?? Infinity)) },
    archive: { findArchived: async () => null, stats: async () => ({}) },
    now: () => Date.now(),
    logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } },
  } as unknown as ApiDeps;
  for (const [cap, total, more] of [[5, 5, true], [7, 7, false], [10, 7, false]] as const) {
    const res = await createApiApp({ ...deps, searchTotalCap: cap }).request('/api/v1/messages?text=x&from=bob');
    const body = (await res.json()) as Body;
    assert.deepEqual([res.status, body.total, body.more], [200, total, more], `cap ${cap}`);
    assert.deepEqual(asked.pop(), { text: 'x', from: 'bob', limit: cap + 1 });
  }
});
