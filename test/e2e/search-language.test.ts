/**
 * The search language over a real archive (issue 17, item 1): mail of two connections (English
 * and Russian words, addresses in To, Cc and Bcc, attachments, dates from 2024 to yesterday, one
 * undated, Exchange journal reports whose envelope names blind copies) drained from Dovecot; every
 * operator's hits, through the command line (on the store) and the API's `q` (paged by
 * `nextCursor`), held against a brute-force evaluation of the same query over the messages'
 * parsed attributes (test/reference/query-oracle.ts); bad queries one line on stderr (exit 1) or a
 * 400 with the code; the cost of a page of 50 excerpts measured.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDovecot, type DovecotInstance } from '../harness/dovecot.js';
import { imapConnection, runCli, REPO_ROOT, type Workspace } from '../harness/cli.js';
import { callApi, createToken, drainedWithApi, startService, type RunningService } from '../harness/api-client.js';
import { sha256 } from '../harness/messages.js';
import { toCrlf } from '../harness/corpus.js';
import { parseToOutcome } from '../../src/adapters/parser-postal-mime/index.js';
import { DEFAULT_PARSE_LIMITS } from '../../src/core/message/limits.js';
import type { Address, MessageAttributes } from '../../src/core/message/attributes.js';
import { parseSearchQuery } from '../../src/core/search/query-language.js';
import { mailText } from '../harness/attachment-mail.js';
import { matchesQuery, type OracleMessage } from '../reference/query-oracle.js';
import { SEARCH_QUERIES as QUERIES } from '../harness/search-queries.js';

let dovecot: DovecotInstance;

// news.alice@north.example holds alice@north.example's words in a row: `from:alice@north.example` is the one address only.
const PEOPLE = ['Alice Archer <alice@north.example>', 'Bob Baker <bob@north.example>', 'Carol Chen <carol@south.example>', 'Иван Петров <ivan@south.example>', 'dave@partner.example', 'North News <news.alice@north.example>'];
const WORDS = ['invoice', 'report', 'quarterly', 'budget', 'meeting', 'merger', 'forecast', 'lunch', 'письмо', 'письма', 'отчет', 'встреча', 'бюджет', 'договор', 'счет'];
const FILES = ['report-q1.pdf', 'budget.xlsx', 'договор.docx', 'notes.txt'];
const DAY = 86_400_000;

/** A small deterministic generator (the same mail every run). */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

/** Header text of a name-and-address, RFC 2047 for a name out of ASCII. */
function header(p: string): string {
  const m = /^(.*) <(.*)>$/u.exec(p);
  if (!m || /^[\x20-\x7e]*$/u.test(m[1]!)) return p;
  return `=?UTF-8?B?${Buffer.from(m[1]!).toString('base64')}?= <${m[2]}>`;
}

/** Message `i`, its date `date` (null: no Date header). */
function mail(i: number, rnd: () => number, date: number | null): Buffer {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const words = (n: number): string => Array.from({ length: n }, () => pick(WORDS)).join(' ');
  const subject = `${words(2 + Math.floor(rnd() * 2))}${i % 9 === 0 ? ' quarterly report' : ''}`;
  const body = `${words(5 + Math.floor(rnd() * 10))}.\r\n${i % 7 === 0 ? 'The quarterly report is attached.\r\n' : ''}`;
  const head = [
    `From: ${header(pick(PEOPLE))}`,
    `To: ${header(pick(PEOPLE))}${rnd() < 0.3 ? `, ${header(pick(PEOPLE))}` : ''}`,
    ...(rnd() < 0.4 ? [`Cc: ${header(pick(PEOPLE))}`] : []),
    ...(rnd() < 0.15 ? [`Bcc: ${header(pick(PEOPLE))}`] : []),
    `Subject: =?UTF-8?B?${Buffer.from(subject).toString('base64')}?=`,
    ...(date === null ? [] : [`Date: ${new Date(date).toUTCString().replace('GMT', '+0000')}`]),
    `Message-ID: <lang-${i}@test.mailsluice.invalid>`,
    'MIME-Version: 1.0',
  ];
  if (rnd() < 0.6) return Buffer.from(mailText(head, body));
  const attachment = { name: pick(FILES), type: 'application/octet-stream', bytes: Buffer.from(`attachment ${i}`) };
  return Buffer.from(mailText(head, body, [attachment], `b${i}`));
}

/** The mail of one connection: `n` messages from `first`, dated over 2024–2025 and the last days. */
function mailbox(first: number, n: number, now: number): Buffer[] {
  const rnd = lcg(first + 17);
  const fixed = [Date.UTC(2024, 2, 5, 10), Date.UTC(2024, 2, 20, 9), Date.UTC(2024, 10, 2, 8), Date.UTC(2025, 0, 15, 12), Date.UTC(2025, 5, 30, 23, 30)];
  const recent = [now - DAY, now - 3 * DAY, now - 8 * DAY, now - 60_000];
  return Array.from({ length: n }, (_, k) => {
    const i = first + k;
    const date = i % 13 === 5 ? null : i % 3 === 0 ? recent[i % recent.length]! : fixed[i % fixed.length]!;
    return mail(i, rnd, date);
  });
}

const fmt = (a: Address | null | undefined): string => (a ? (a.Name ? `${a.Name} <${a.Address}>` : a.Address) : '');

/**
 * A message as the language's fields read it (docs/search.md, "Fields"), from its parsed
 * attributes: from = From, the journal envelope's Sender and On-Behalf-Of; to and cc = the
 * header's and the envelope's of that kind; bcc = the Bcc attribute (journal blind copies in it).
 */
function oracleOf(a: Partial<MessageAttributes>, connection: string): OracleMessage {
  const env = a.Journal;
  const kind = (k: string): string[] => (env?.Recipients ?? []).filter((r) => r.Kind === k).map((r) => r.Address);
  return {
    connection,
    date: a.ReceivedDate ?? null,
    hasAttachments: (a.Attachments ?? []).length > 0,
    rows: [
      {
        subject: a.Subject ?? '',
        from: [fmt(a.From), env?.Sender ?? '', env?.OnBehalfOf ?? ''].join(' '),
        to: [...(a.To ?? []).map(fmt), ...kind('To')].join(' '),
        cc: [...(a.Cc ?? []).map(fmt), ...kind('Cc')].join(' '),
        bcc: (a.Bcc ?? []).map(fmt).join(' '),
        body: a.TextBody || (a.HtmlBody ?? '').replace(/<[^>]*>/g, ' '),
        attachmentNames: (a.Attachments ?? []).map((x) => x.Name).join(' '),
      },
    ],
  };
}


let ws: Workspace;
let base: string;
let token: string;
let service: RunningService | undefined;
/** The archive as the oracle sees it: id → message. */
const archived = new Map<number, OracleMessage>();

before(async () => {
  const now = Date.now();
  dovecot = await startDovecot();
  const north = await dovecot.createUser();
  const south = await dovecot.createUser();
  // As Dovecot keeps them (CRLF), so their hashes are the archive's.
  const journal = ['simple-to-cc-bcc', 'on-behalf-of', 'expanded-forwarded'].map((f) => toCrlf(readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'journal', `${f}.eml`))));
  const northMail = [...mailbox(0, 34, now), ...journal];
  const southMail = mailbox(100, 30, now);
  await dovecot.loadMaildir(north.username, northMail);
  await dovecot.loadMaildir(south.username, southMail);
  ({ ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, north, { name: 'north' }), imapConnection(dovecot, south, { name: 'south' })] }));
  token = await createToken(ws, 'legal', 'auditor');
  // Every archived message's id (the command lists them all) and its attributes, parsed here.
  const bytes = new Map<string, { raw: Buffer; connection: string }>();
  for (const raw of northMail) bytes.set(sha256(raw), { raw, connection: 'north' });
  for (const raw of southMail) bytes.set(sha256(raw), { raw, connection: 'south' });
  const all = await runCli(['search', '--json', '--limit', '1000'], ws);
  assert.equal(all.code, 0, all.stderr);
  for (const line of all.stdout.split('\n').filter((l) => l.startsWith('{'))) {
    const hit = JSON.parse(line) as { id: number; sha256: string; connection: string };
    const m = bytes.get(hit.sha256);
    assert.ok(m, `archived ${hit.sha256} is one of the messages loaded`);
    assert.equal(hit.connection, m.connection);
    const o = await parseToOutcome(m.raw, DEFAULT_PARSE_LIMITS);
    assert.ok(o.ok, `message ${hit.id} parses`);
    archived.set(hit.id, oracleOf(o.attributes, m.connection));
  }
  assert.equal(archived.size, bytes.size, 'every message archived once');
});

after(async () => {
  await service?.stop();
  ws?.cleanup();
  await dovecot?.stop();
});

/** The ids the oracle says `q` matches, newest first. */
function expected(q: string): number[] {
  const tree = parseSearchQuery(q, { now: Date.now() });
  assert.ok(tree, q);
  return [...archived].filter(([, m]) => matchesQuery(tree, m)).map(([id]) => id).sort((a, b) => b - a);
}

async function cliIds(q: string): Promise<number[]> {
  const r = await runCli(['search', '--json', '--limit', '1000', q], ws);
  assert.equal(r.code, 0, `${q}: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { id: number }).id);
}

/** Every page of `q` through the API, `limit` a page, following `nextCursor`; and the total the first page gave. */
async function apiIds(q: string, limit: number): Promise<{ ids: number[]; total: number }> {
  const ids: number[] = [];
  let cursor: string | null = null;
  let total = -1;
  do {
    const url = `${base}/api/v1/messages?q=${encodeURIComponent(q)}&limit=${limit}&excerpts=false${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const r = await callApi(url, token);
    assert.equal(r.status, 200, `${q}: ${r.raw}`);
    if (total < 0) total = r.body.total as number;
    assert.equal(r.body.total, total, 'the whole search counted on every page');
    ids.push(...(r.body.hits as Array<{ id: number }>).map((h) => h.id));
    cursor = r.body.nextCursor as string | null;
    assert.equal(r.body.next, cursor);
  } while (cursor !== null);
  return { ids, total };
}

test('the command line (on the store): every operator finds exactly what a brute-force evaluation finds', async () => {
  const counts: string[] = [];
  for (const q of QUERIES) {
    const want = expected(q);
    assert.deepEqual(await cliIds(q), want, q);
    counts.push(`${q} → ${want.length}`);
  }
  // The queries are not vacuous: most find some but not all.
  const sizes = QUERIES.map((q) => expected(q).length);
  assert.ok(sizes.filter((n) => n > 0 && n < archived.size).length >= QUERIES.length - 3, counts.join('; '));
  // --since yesterday finds yesterday's mail (it once found nothing), the options are terms.
  assert.deepEqual(await cliIdsWith(['--since', 'yesterday']), expected('after:yesterday'));
  assert.deepEqual(await cliIdsWith(['--from', 'Alice Archer', '--has-attachment', 'invoice']), expected('invoice from:"Alice Archer" has:attachment'));
  assert.deepEqual(await cliIdsWith(['--to', 'dave', '--connection', 'north']), expected('(to:dave OR cc:dave OR bcc:dave) connection:north'));
});

async function cliIdsWith(args: string[]): Promise<number[]> {
  const r = await runCli(['search', '--json', '--limit', '1000', ...args], ws);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { id: number }).id);
}

test('bad queries: one line on stderr naming the character, exit 1; through the API a 400 with the code', async () => {
  for (const [q, column] of [['"unclosed', 1], ['invoice OR', 9], ['from: alice', 1], ['after:tomorrow', 7], ['(a b', 1]] as const) {
    const r = await runCli(['search', q], ws);
    assert.equal(r.code, 1, q);
    assert.equal(r.stdout, '');
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`^mailsluice: SEARCH_QUERY_INVALID: search query: .* at character ${column}\\b`), q);
  }
  const since = await runCli(['search', '--since', 'someday'], ws);
  assert.equal(since.code, 2);
  assert.match(since.stderr, /^mailsluice: CLI_USAGE: --since: cannot read "someday" as a date; write one of 2024-03-05/);
});

test('the API (beside start): q paged by nextCursor gives the ids the command gives, the total counted; bad queries are 400; excerpts mark the hit', async (t) => {
  service = await startService(ws, base);
  for (const [i, q] of QUERIES.entries()) {
    const want = expected(q);
    const { ids, total } = await apiIds(q, 3 + (i % 5));
    assert.deepEqual(ids, want, q);
    assert.equal(total, want.length, q);
  }
  // Through the running service the command gives the same ids too.
  for (const q of ['invoice -merger', 'from:alice OR to:alice', 'after:yesterday']) assert.deepEqual(await cliIds(q), expected(q), q);

  for (const q of ['"unclosed', 'from:', 'has:nothing', 'before:31.02.2024']) {
    const r = await callApi(`${base}/api/v1/messages?q=${encodeURIComponent(q)}`, token);
    assert.equal(r.status, 400, q);
    assert.equal(r.body.code, 'SEARCH_QUERY_INVALID', r.raw);
    assert.match(r.body.message as string, /at character \d+/);
  }
  const badCursor = await callApi(`${base}/api/v1/messages?q=invoice&cursor=42`, token);
  assert.equal(badCursor.status, 400, badCursor.raw);

  // An excerpt marks the word found; a page of 50 with excerpts (each hit read and parsed again) timed.
  const marked = await callApi(`${base}/api/v1/messages?q=invoice&limit=5`, token);
  assert.ok((marked.body.hits as Array<{ excerpt: string }>).some((h) => /«invoice»/i.test(h.excerpt)), marked.raw);
  const time = async (excerpts: boolean): Promise<number> => {
    const started = performance.now();
    const r = await callApi(`${base}/api/v1/messages?limit=50&excerpts=${excerpts}`, token);
    assert.equal((r.body.hits as unknown[]).length, 50);
    return performance.now() - started;
  };
  await time(true);
  const withExcerpts = Math.min(await time(true), await time(true), await time(true));
  const without = Math.min(await time(false), await time(false), await time(false));
  t.diagnostic(`a page of 50 hits: ${withExcerpts.toFixed(1)} ms with excerpts, ${without.toFixed(1)} ms without (${((withExcerpts - without) / 50).toFixed(2)} ms per excerpt)`);

  // The audit log keeps the query as typed.
  const audit = await runCli(['audit', 'list', '--action', 'archive.search', '--json'], ws);
  assert.equal(audit.code, 0, audit.stderr);
  assert.match(audit.stdout, /"text":"invoice -merger"/);
  assert.match(audit.stdout, /"text":"from:alice OR to:alice"/);
});
