/**
 * The PostgreSQL search agrees with the embedded one (ADR 0051): the same mail (English and
 * Russian words and their forms, names with diacritics, addresses in every field, attachments,
 * dates, one undated, journal reports merged into a primary) saved into a SQLite store and a
 * PostgreSQL store, and every query of the language's test list (test/harness/search-queries.ts)
 * plus the tokenizer's hard cases gives the same hits, in the same order, and the same count.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../harness/sqlite-keep.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { createPostgresStore } from '../../src/adapters/store-postgres/index.js';
import type { Address, MessageAttributes } from '../../src/core/message/attributes.js';
import type { ParseOutcome } from '../../src/core/message/parse-outcome.js';
import type { SearchIndex, SearchQuery } from '../../src/core/ports/search-index.js';
import type { DrainLedger } from '../../src/core/ports/drain-ledger.js';
import type { ParseQueue } from '../../src/core/ports/parse-queue.js';
import { parseSearchQuery } from '../../src/core/search/query-language.js';
import { freshSchema } from '../harness/postgres.js';
import { SEARCH_QUERIES } from '../harness/search-queries.js';
import { journalReport, parsedOk, taken } from './store-harness.js';

const PEOPLE = ['Alice Archer <alice@north.example>', 'Bob Baker <bob@north.example>', 'Carol Chen <carol@south.example>', 'Иван Петров <ivan@south.example>', 'dave@partner.example', 'North News <news.alice@north.example>', 'Zoë Müller <zoe@south.example>'];
const WORDS = ['invoice', 'invoices', 'report', 'reports', 'quarterly', 'budget', 'meeting', 'merger', 'forecast', 'lunch', 'письмо', 'письма', 'отчет', 'встреча', 'бюджет', 'договор', 'счет', 'naïve', 'ёлка', 'e-mail', 'x86', 'café'];
const FILES = ['report-q1.pdf', 'budget.xlsx', 'договор.docx', 'notes.txt'];
const EXTRA = ['naive', 'cafe', 'CAFÉ', 'zoe', 'müller', 'from:muller', 'e-mail', '"e mail"', 'mail', 'елка', 'ёлка', 'x86', 'invoices', 'reports', 'report-q1.pdf', 'attachment:"q1 pdf"', 'from:zoe@south.example', 'to:alice@north.example', 'bcc:dave', 'strictly', 'merger bcc:dave'];

function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

const person = (p: string): Address => {
  const m = /^(.*) <(.*)>$/u.exec(p);
  return m ? { Name: m[1]!, Address: m[2]! } : { Name: '', Address: p };
};

/** Message `i`'s parse outcome. */
function outcome(i: number, rnd: () => number, journal: boolean): ParseOutcome {
  if (journal && i % 24 === 0 && i > 0 && i < 96) return journalReport([{ Address: 'bob@contoso.example', Kind: 'To' }, ...(i % 48 ? [{ Address: 'dave@contoso.example', Kind: 'Bcc' as const }] : [])], { originalId: 'o@contoso.example' });
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const words = (n: number): string => Array.from({ length: n }, () => pick(WORDS)).join(' ');
  const a: Partial<MessageAttributes> = {
    From: person(pick(PEOPLE)),
    To: [person(pick(PEOPLE)), ...(rnd() < 0.3 ? [person(pick(PEOPLE))] : [])],
    Cc: rnd() < 0.4 ? [person(pick(PEOPLE))] : [],
    Bcc: rnd() < 0.15 ? [person(pick(PEOPLE))] : [],
    Subject: `${words(2)}${i % 9 === 0 ? ' quarterly report' : ''}`,
    ReceivedDate: i % 31 === 30 ? undefined : new Date(Date.UTC(2024, 0, 1) + i * 7 * 86_400_000 + (i % 3) * 3_600_000).toISOString(),
    TextBody: `${words(5 + Math.floor(rnd() * 10))}. ${i % 7 === 0 ? 'The quarterly report is attached.' : ''}`,
    Attachments: rnd() < 0.3 ? [{ Name: pick(FILES), Extension: 'pdf', ContentType: 'application/pdf', Size: 10, Sha256: 'e'.repeat(64) }] : [],
  };
  return parsedOk(a);
}

type Store = DrainLedger & ParseQueue & SearchIndex;

/** The same 100 messages of two connections into `store`, parsed in groups of 16; with `journal`, reports of which two merge. */
async function fill(store: Store, journal: boolean): Promise<void> {
  const rnd = lcg(7);
  const outcomes = Array.from({ length: 100 }, (_, i) => outcome(i, rnd, journal));
  const records = outcomes.map((_, i) => taken(i % 4 === 0 ? 'south' : 'north', i + 1));
  await store.commitTaken(records.filter((r) => r.connection === 'north'));
  await store.commitTaken(records.filter((r) => r.connection === 'south'));
  const queued = await store.listUnparsed(1000);
  const idOf = new Map(queued.map((m) => [`${m.connection} ${m.sha256}`, m.id]));
  const results = outcomes.map((o, i) => ({ id: idOf.get(`${records[i]!.connection} ${records[i]!.sha256}`)!, outcome: o }));
  // Some left unparsed: a negation lists them, a text term does not.
  for (let i = 0; i < 96; i += 16) await store.saveParsed(results.slice(i, i + 16));
}

for (const journal of [true, false]) {
test(`postgres search agrees with the embedded search: the same hits, order and count for every query of the language (${journal ? 'journal reports merged' : 'no merged report'})`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-pg-agree-'));
  const sqlite = createSqliteStore({ file: join(dir, 'archive.db'), journalSettleMs: 0 });
  const schema = await freshSchema();
  const pg = await createPostgresStore({ url: schema.url, schema: schema.schema, poolSize: 2, journalSettleMs: 0 });
  try {
    await fill(sqlite, journal);
    await fill(pg, journal);
    const merged = (await pg.connection.query<{ n: number }>('SELECT count(*) AS n FROM messages WHERE merged_into IS NOT NULL', [], 'test'))[0]!.n;
    assert.equal(merged > 0, journal, 'the archive holds a merged report exactly when the test says so');
    const now = Date.now();
    let nonEmpty = 0;
    const queries = [...SEARCH_QUERIES, ...EXTRA];
    for (const text of queries) {
      const query = parseSearchQuery(text, { now })!;
      for (const extra of [{}, { limit: 5 }, { connection: 'north', hasAttachment: false }] satisfies SearchQuery[]) {
        const q = { query, ...extra };
        const [a, b] = [await sqlite.search(q), await pg.search(q)];
        assert.deepEqual(b.map((h) => h.sha256), a.map((h) => h.sha256), `${text} ${JSON.stringify(extra)}`);
        assert.deepEqual(await pg.count(q), await sqlite.count(q), `count of ${text} ${JSON.stringify(extra)}`);
        if (Object.keys(extra).length === 0 && a.length > 0 && a.length < 100) nonEmpty++;
      }
      const page = await pg.search({ query, limit: 3 });
      if (page.length === 3) {
        const next = await pg.search({ query, limit: 3, beforeId: page[2]!.id });
        const whole = await pg.search({ query, limit: 6 });
        assert.deepEqual([...page, ...next].map((h) => h.id), whole.map((h) => h.id), `paging ${text}`);
      }
    }
    assert.ok(nonEmpty >= queries.length - 12, `${nonEmpty} of ${queries.length} queries found some but not all messages`);
  } finally {
    await sqlite.close();
    await pg.close();
    await schema.drop();
    rmSync(dir, { recursive: true, force: true });
  }
});
}
