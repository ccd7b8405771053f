/**
 * `mailsluice search` on a real archive (issue 12, item 15; the language of issue 17 in search-language.test.ts): a query that cannot be read is one
 * clear line naming where it went wrong (SEARCH_QUERY_INVALID), never a database error; a date
 * the command cannot read is an error, not an empty result; a list cut at --limit says so.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDovecot, type DovecotInstance } from '../harness/dovecot.js';
import { makeWorkspace, runCli, imapConnection, type Workspace } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';

let dovecot: DovecotInstance;
let ws: Workspace;
before(async () => {
  dovecot = await startDovecot();
  const user = await dovecot.createUser();
  const naive = Buffer.from(
    'From: a@example.test\r\nTo: b@example.test\r\nSubject: a naïve fact\r\nDate: Mon, 02 Feb 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nfacts and fables\r\n',
  );
  // Messages 0..4 are dated 2026-01-01 (makeMessage), the naïve one 2026-02-02.
  await dovecot.loadMaildir(user.username, [...[0, 1, 2, 3, 4].map((i) => makeMessage(i)), naive]);
  ws = makeWorkspace({ connections: [imapConnection(dovecot, user)] });
  const r = await runCli(['drain'], ws);
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  ws?.cleanup();
  await dovecot?.stop();
});

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

test('an unclosed quote is one SEARCH_QUERY_INVALID line naming the character, not a database error', async () => {
  const r = await runCli(['search', '"naïve fa'], ws);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  const err = lines(r.stderr);
  assert.equal(err.length, 1, r.stderr);
  assert.match(err[0]!, /^mailsluice: SEARCH_QUERY_INVALID: search query: a quote opens a phrase that is never closed at character 1 \("naïve fa\); close it/);
  const lone = await runCli(['search', 'fact', '*'], ws);
  assert.equal(lone.code, 1);
  assert.match(lone.stderr, /^mailsluice: SEARCH_QUERY_INVALID: search query: a \* on its own at character 6/);
});

test('phrases, prefixes, and what FTS5 would read as syntax all search as text', async () => {
  const one = async (...q: string[]): Promise<string[]> => {
    const r = await runCli(['search', ...q], ws);
    assert.equal(r.code, 0, r.stderr);
    return lines(r.stdout);
  };
  assert.match((await one('"naïve fact"'))[0]!, /a naïve fact/);
  assert.match((await one('"naïve fa"*'))[0]!, /a naïve fact/);
  assert.match((await one('fab*'))[0]!, /a naïve fact/);
  // OR is the language's now (docs/search.md): the naïve one or the five reports.
  assert.deepEqual((await one('naïve', 'OR', 'Report')).at(-1), '6 messages');
  assert.deepEqual((await one('"NEAR("', 'a:b', '^x', '{subject}')).at(-1), '0 messages');
});

test('a date the command cannot read is a CLI_USAGE error naming it; a readable one filters (yesterday too)', async () => {
  for (const [option, value] of [['--since', 'tomorrow'], ['--before', '2026-02-30'], ['--since', '02/01/2026']] as const) {
    const r = await runCli(['search', option, value], ws);
    assert.equal(r.code, 2, `${option} ${value}`);
    const err = lines(r.stderr);
    assert.equal(err.length, 1, r.stderr);
    assert.ok(err[0]!.startsWith(`mailsluice: CLI_USAGE: ${option}: cannot read "${value}" as a date`), err[0]);
  }
  const since = await runCli(['search', '--since', '2026-02-01'], ws);
  assert.equal(since.code, 0, since.stderr);
  assert.equal(lines(since.stdout).at(-1), '1 message');
  const before = await runCli(['search', '--before', '2026-01-31T00:00:00+03:00'], ws);
  assert.equal(lines(before.stdout).at(-1), '5 messages');
  // Every message here is older than yesterday: none, and no error.
  const yesterday = await runCli(['search', '--since', 'yesterday'], ws);
  assert.equal(yesterday.code, 0, yesterday.stderr);
  assert.equal(lines(yesterday.stdout).at(-1), '0 messages');
  const old = await runCli(['search', '--since', '02.02.2026'], ws);
  assert.equal(lines(old.stdout).at(-1), '1 message');
});

test('a list cut at --limit says so, in text and in --json', async () => {
  const r = await runCli(['search', '--limit', '2'], ws);
  assert.equal(r.code, 0, r.stderr);
  const out = lines(r.stdout);
  assert.equal(out.length, 3);
  assert.equal(out[2], 'first 2 messages shown; more match: raise --limit or narrow the search');
  const json = await runCli(['search', '--limit', '2', '--json'], ws);
  const rows = lines(json.stdout).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(rows.length, 3);
  assert.deepEqual(rows[2], { more: true, limit: 2 });
  // Not cut: every line a hit, and the count.
  const all = await runCli(['search', '--limit', '6', '--json'], ws);
  assert.equal(lines(all.stdout).length, 6);
  assert.ok(lines(all.stdout).every((l) => 'sha256' in (JSON.parse(l) as object)));
  assert.equal(lines((await runCli(['search', '--limit', '6'], ws)).stdout).at(-1), '6 messages');
});
