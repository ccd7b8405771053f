/**
 * Bifurcated Exchange journal reports in the store (docs/journal-reports.md, "Bifurcation"): two
 * reports of one original, saved through `saveParsed` on a real SQLite database in a temp
 * directory, become one archived message (the primary) carrying the merged envelope and Bcc; the
 * other is kept raw, marked merged, exported, counted by `stats`, not listed by search, and gets
 * no delivery of its own. The outcomes are the real parser's, on test/fixtures/journal.
 */
import { textQuery } from '../harness/search-text.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import '../harness/sqlite-keep.js';
import { createSqliteStore, type SqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { createSqliteBus } from '../../src/adapters/bus-sqlite/index.js';
import { parseToOutcome } from '../../src/adapters/parser-postal-mime/index.js';
import { DEFAULT_PARSE_LIMITS } from '../../src/core/message/limits.js';
import type { MessageAttributes } from '../../src/core/message/attributes.js';
import type { ParseOutcome } from '../../src/core/ports/message-parser.js';
import { toParsedRecord } from '../../src/core/message/parsed-record.js';
import type { TakenRecord } from '../../src/core/ports/drain-ledger.js';
import { RouteMatcher, type NewDelivery } from '../../src/core/routing/route-matcher.js';
import { re2jsRegexEngine } from '../../src/adapters/regex-re2js/index.js';
import { MIGRATIONS } from '../../src/adapters/store-sqlite/sqlite-schema.js';
import { REPO_ROOT } from '../harness/cli.js';

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'journal');
const fixture = (name: string): Buffer => readFileSync(join(FIXTURES, name));
const SETTLE = 500;
const NOW = 1_700_000_000_000;

/** Routes of connection `c`: one takes everything, one only mail to dave (a Bcc of report b only). */
const ROUTES = new RouteMatcher([
  { name: 'all', connection: 'c', enabled: true, bus: 0 },
  { name: 'dave', connection: 'c', enabled: true, bus: 1, filter: { match: 'contains', to: 'dave@' } },
], re2jsRegexEngine);

interface Harness {
  dir: string;
  file: string;
  store: SqliteStore;
  /** Commits one message per raw (distinct hashes) and returns their ids, in order. */
  take(connection: string, raws: Buffer[]): Promise<number[]>;
  /** One saveParsed result, routed as the index stage would. */
  result(id: number, connection: string, outcome: ParseOutcome, record?: boolean): { id: number; outcome: ParseOutcome | ReturnType<typeof toParsedRecord>; deliveries?: NewDelivery[] };
  row(id: number): { merged_into: number | null; journal_original: string | null; journal_sender: string | null; to_addrs: string; attributes: string; parse_state: number };
  deliveries(): Array<{ id: string; message_id: number; route: string; next_at: number; created_at: number; state: string }>;
  close(): Promise<void>;
}

let seq = 0;
async function open(journalSettleMs?: number): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'ms-journal-'));
  const file = join(dir, 'archive.db');
  const store = createSqliteStore({ file, ...(journalSettleMs !== undefined ? { journalSettleMs } : {}) });
  const peek = (): Database.Database => new Database(file, { readonly: true });
  return {
    dir,
    file,
    store,
    async take(connection, raws) {
      const records: TakenRecord[] = raws.map((raw, i) => {
        const n = ++seq;
        return {
          connection,
          sourceKey: `imap:INBOX:1:${n}`,
          mailbox: 'INBOX',
          uidValidity: 1,
          uid: n,
          uidl: null,
          sha256: n.toString(16).padStart(64, '0'),
          size: raw.byteLength,
          blob: { ref: `pack-00000001:${n}:${i}`, storedSize: raw.byteLength },
          takenAt: NOW,
        };
      });
      await store.commitTaken(records);
      const db = peek();
      try {
        return records.map((r) => (db.prepare('SELECT id FROM messages WHERE connection = ? AND sha256 = ?').get(connection, r.sha256) as { id: number }).id);
      } finally {
        db.close();
      }
    },
    result(id, connection, outcome, record = false) {
      const attributes = (): Partial<MessageAttributes> => (outcome.ok ? outcome.attributes : (outcome.partial ?? {}));
      const deliveries = ROUTES.match({ id, connection, size: 1000, attributes }, NOW);
      const o = record ? toParsedRecord(outcome) : outcome;
      return deliveries.length > 0 ? { id, outcome: o, deliveries } : { id, outcome: o };
    },
    row(id) {
      const db = peek();
      try {
        return db.prepare('SELECT merged_into, journal_original, journal_sender, to_addrs, attributes, parse_state FROM messages WHERE id = ?').get(id) as ReturnType<Harness['row']>;
      } finally {
        db.close();
      }
    },
    deliveries() {
      const db = peek();
      try {
        return db.prepare('SELECT id, message_id, route, next_at, created_at, state FROM deliveries ORDER BY id').all() as ReturnType<Harness['deliveries']>;
      } finally {
        db.close();
      }
    },
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function parsed(name: string): Promise<ParseOutcome> {
  const o = await parseToOutcome(fixture(name), DEFAULT_PARSE_LIMITS);
  assert.ok(o.ok && o.journal?.unwrapped, `${name} unwraps`);
  return o;
}

/** The rowids of search.db's index rows matching a term. */
function ftsRows(h: Harness, term: string): number[] {
  const db = new Database(join(h.dir, 'search.db'), { readonly: true });
  try {
    return (db.prepare('SELECT rowid FROM messages_search WHERE messages_search MATCH ? ORDER BY rowid').all(term) as Array<{ rowid: number }>).map((r) => r.rowid);
  } finally {
    db.close();
  }
}

const recipients = (a: Partial<MessageAttributes>): string[] => (a.Journal?.Recipients ?? []).map((r) => `${r.Kind}:${r.Address}`);

/** Everything the merged pair must show, whichever way it was saved. */
function assertMerged(h: Harness, primary: number, sibling: number): void {
  const p = h.row(primary);
  const s = h.row(sibling);
  assert.equal(p.merged_into, null, 'the primary is not merged into anything');
  assert.equal(s.merged_into, primary, 'the second report points at the primary');
  assert.equal(p.journal_original, 'merger-0309@contoso.example');
  assert.equal(p.journal_sender, 'alice@contoso.example');
  const pa = JSON.parse(p.attributes) as Partial<MessageAttributes>;
  assert.deepEqual(recipients(pa).sort(), ['Bcc:dave@contoso.example', 'Cc:carol@contoso.example', 'To:bob@contoso.example', 'To:partner@fabrikam.example']);
  assert.equal(pa.Journal?.Sender, 'alice@contoso.example');
  assert.deepEqual(pa.Bcc, [{ Name: '', Address: 'dave@contoso.example' }], 'Bcc recomputed over the merged envelope');
  assert.match(p.to_addrs, /dave@contoso\.example/, 'the to column (search --to) has the blind copy');
  // The sibling keeps its own parse result (its share of the recipients): it is the report as read.
  const sa = JSON.parse(s.attributes) as Partial<MessageAttributes>;
  assert.equal(s.parse_state, 1);
  assert.ok(recipients(sa).length < recipients(pa).length);
}

test('two reports of one original saved in one group: one message with the merged envelope, the second marked merged, one set of deliveries', async () => {
  const h = await open();
  try {
    const [a, b] = await h.take('c', [fixture('bifurcation-a.eml'), fixture('bifurcation-b.eml')]);
    const oa = await parsed('bifurcation-a.eml');
    const ob = await parsed('bifurcation-b.eml');
    assert.deepEqual(oa.ok && oa.attributes.Bcc, [], 'report a alone shows no blind copy');
    // b finished parsing first: the group lists it first, the earlier id still becomes the primary.
    await h.store.saveParsed([h.result(b!, 'c', ob), h.result(a!, 'c', oa, true)]);
    assertMerged(h, a!, b!);
    // Deliveries: a's own ("all"), and the route only b matched ("dave"), queued for a; none for b.
    const d = h.deliveries();
    assert.deepEqual(
      d.map((x) => [x.id, x.message_id, x.route]),
      [
        [`c.all.${a}`, a, 'all'],
        [`c.dave.${a}`, a, 'dave'],
      ],
    );
    for (const x of d) assert.equal(x.next_at, x.created_at, 'nothing waits to be parsed behind the group: due at once');
    // stats: both reports were taken from the mailbox; one of them is merged.
    const st = await h.store.stats();
    assert.equal(st.messages, 2);
    assert.equal(st.journalMerged, 1);
    assert.equal(st.unparsed, 0);
    assert.deepEqual(st.connections['c'], { messages: 2, bytes: fixture('bifurcation-a.eml').byteLength + fixture('bifurcation-b.eml').byteLength, pendingActions: 2, journalMerged: 1 });
    // Search lists the primary only, also for text only the second report's index row holds.
    assert.deepEqual((await h.store.search({})).map((x) => x.id), [a]);
    assert.deepEqual((await h.store.search({ query: textQuery('merger') })).map((x) => x.id), [a]);
    assert.deepEqual((await h.store.search({ query: textQuery('dave') })).map((x) => x.id), [a]);
    assert.deepEqual((await h.store.search({ query: textQuery('dave bob') })).map((x) => x.id), [a]);
    assert.deepEqual(ftsRows(h, 'dave'), [a, b], "the primary's own index row now holds the merged recipients");
    assert.deepEqual(ftsRows(h, 'anyone'), [a, b], 'with its body');
    assert.deepEqual((await h.store.search({ to: 'dave@' })).map((x) => x.id), [a]);
    // Export still writes both raw reports.
    const exported: number[] = [];
    for await (const x of h.store.listForExport()) exported.push(x.id);
    assert.deepEqual(exported, [a, b]);
  } finally {
    await h.close();
  }
});

test('reports saved in separate groups merge in order, and saving any of them again changes nothing', async () => {
  const h = await open();
  try {
    const [a, b] = await h.take('c', [fixture('bifurcation-a.eml'), fixture('bifurcation-b.eml')]);
    const oa = await parsed('bifurcation-a.eml');
    const ob = await parsed('bifurcation-b.eml');
    await h.store.saveParsed([h.result(a!, 'c', oa)]);
    assert.deepEqual(
      h.deliveries().map((x) => [x.id, x.next_at - x.created_at]),
      [[`c.all.${a}`, SETTLE]],
      'b still waits to be parsed: the report is held for the settle window',
    );
    await h.store.saveParsed([h.result(b!, 'c', ob, true)]);
    assertMerged(h, a!, b!);
    const first = { a: h.row(a!), b: h.row(b!), d: h.deliveries() };
    assert.deepEqual(first.d.map((x) => x.id), [`c.all.${a}`, `c.dave.${a}`]);
    // Parsed again (the sibling, then the primary, then both in one group): nothing merges twice,
    // the primary keeps what was merged into it, no delivery is added.
    await h.store.saveParsed([h.result(b!, 'c', ob)]);
    await h.store.saveParsed([h.result(a!, 'c', oa, true)]);
    await h.store.saveParsed([h.result(a!, 'c', oa), h.result(b!, 'c', ob)]);
    assert.deepEqual({ a: h.row(a!), b: h.row(b!), d: h.deliveries() }, first);
    assert.deepEqual((await h.store.search({ query: textQuery('dave bob') })).map((x) => x.id), [a]);
    assert.deepEqual(ftsRows(h, 'dave'), [a, b]);
    assert.equal((await h.store.stats()).journalMerged, 1);
  } finally {
    await h.close();
  }
});

test('two saves in flight at once (as the index stage runs them) still give one primary', async () => {
  const h = await open();
  try {
    const [a, b] = await h.take('c', [fixture('bifurcation-a.eml'), fixture('bifurcation-b.eml')]);
    const oa = await parsed('bifurcation-a.eml');
    const ob = await parsed('bifurcation-b.eml');
    await Promise.all([h.store.saveParsed([h.result(b!, 'c', ob)]), h.store.saveParsed([h.result(a!, 'c', oa)])]);
    // The first transaction to commit made its message the primary: b here.
    assertMerged(h, b!, a!);
    assert.deepEqual(h.deliveries().map((x) => x.id).sort(), [`c.all.${b}`, `c.dave.${b}`]);
    assert.deepEqual((await h.store.search({ query: textQuery('dave bob') })).map((x) => x.id), [b]);
  } finally {
    await h.close();
  }
});

test('a primary already delivered is not delivered again when a late report merges', async () => {
  const h = await open(0);
  try {
    const [a, b] = await h.take('c', [fixture('bifurcation-a.eml'), fixture('bifurcation-b.eml')]);
    await h.store.saveParsed([h.result(a!, 'c', await parsed('bifurcation-a.eml'))]);
    const [d] = h.deliveries();
    assert.equal(d!.next_at, d!.created_at, 'journalSettleMs 0: due at once');
    await createSqliteBus(h.store.connection()).doneMany([{ id: d!.id, at: NOW + 10, response: null }]);
    await h.store.saveParsed([h.result(b!, 'c', await parsed('bifurcation-b.eml'))]);
    assertMerged(h, a!, b!);
    const after = h.deliveries();
    assert.deepEqual(
      after.map((x) => [x.id, x.state]),
      [
        [`c.all.${a}`, 'done'],
        [`c.dave.${a}`, 'pending'],
      ],
      'the route that had it keeps its one (done) delivery; the route only the late report matched gets the primary',
    );
  } finally {
    await h.close();
  }
});

test('what does not merge: another connection, another sender, no Message-ID, a report not unwrapped, other mail', async () => {
  const h = await open();
  try {
    const rawA = fixture('bifurcation-a.eml');
    const rawB = fixture('bifurcation-b.eml');
    const otherSender = Buffer.from(rawB.toString('latin1').replace('Sender: alice@contoso.example', 'Sender: mallory@contoso.example'), 'latin1');
    const noId = (raw: Buffer): Buffer => Buffer.from(raw.toString('latin1').replace(/^Message-ID: <merger-0309@contoso\.example>\r\n/m, ''), 'latin1');
    const [a, bOther, aNoId, bNoId, garbled, plain] = await h.take('c', [
      rawA,
      otherSender,
      noId(rawA),
      noId(rawB),
      fixture('malformed-garbled-envelope.eml'),
      Buffer.from('From: x@y.example\r\nTo: z@y.example\r\nSubject: plain\r\nMessage-ID: <merger-0309@contoso.example>\r\n\r\nhello\r\n'),
    ]);
    const [bElsewhere] = await h.take('d', [rawB]);
    // Mail of connection c still waiting to be parsed when the group below is saved.
    await h.take('c', [Buffer.from('From: w@y.example\r\nSubject: later\r\n\r\nlater\r\n')]);
    const outcomes = await Promise.all([rawA, otherSender, noId(rawA), noId(rawB), fixture('malformed-garbled-envelope.eml')].map((r) => parseToOutcome(r, DEFAULT_PARSE_LIMITS)));
    const plainOutcome = await parseToOutcome(Buffer.from('From: x@y.example\r\nTo: z@y.example\r\nSubject: plain\r\nMessage-ID: <merger-0309@contoso.example>\r\n\r\nhello\r\n'), DEFAULT_PARSE_LIMITS);
    assert.equal(toParsedRecord(outcomes[2]!).journal, undefined, 'no Message-ID, no key');
    assert.equal(toParsedRecord(outcomes[4]!).journal, undefined, 'not unwrapped, no key');
    assert.equal(toParsedRecord(plainOutcome).journal, undefined);
    await h.store.saveParsed([
      h.result(a!, 'c', outcomes[0]!),
      h.result(bOther!, 'c', outcomes[1]!),
      h.result(aNoId!, 'c', outcomes[2]!),
      h.result(bNoId!, 'c', outcomes[3]!),
      h.result(garbled!, 'c', outcomes[4]!),
      h.result(plain!, 'c', plainOutcome),
    ]);
    await h.store.saveParsed([h.result(bElsewhere!, 'd', await parsed('bifurcation-b.eml'))]);
    for (const id of [a, bOther, aNoId, bNoId, garbled, plain, bElsewhere]) assert.equal(h.row(id!).merged_into, null, `message ${id} is not merged`);
    assert.equal(h.row(bOther!).journal_sender, 'mallory@contoso.example');
    assert.equal((await h.store.stats()).journalMerged, 0);
    // With mail waiting behind them, journal reports wait; other mail is due at once.
    const d = h.deliveries();
    assert.equal(d.find((x) => x.message_id === plain)!.next_at, NOW);
    assert.equal(d.find((x) => x.message_id === garbled)!.next_at, NOW);
    assert.equal(d.find((x) => x.message_id === a)!.next_at, NOW + SETTLE);
  } finally {
    await h.close();
  }
});

test('the primary is found through the partial index on (connection, journal_original)', async () => {
  const h = await open();
  try {
    const db = new Database(h.file, { readonly: true });
    try {
      const plan = db
        .prepare(
          `EXPLAIN QUERY PLAN SELECT id FROM messages WHERE connection = ? AND journal_original = ? AND journal_sender = ? AND merged_into IS NULL AND id <> ?
           ORDER BY id LIMIT 1`,
        )
        .all('c', 'x', 'y', 1) as Array<{ detail: string }>;
      assert.ok(plan.some((p) => /USING INDEX messages_journal/.test(p.detail)), JSON.stringify(plan));
    } finally {
      db.close();
    }
  } finally {
    await h.close();
  }
});

test('an archive from before the journal columns, opened read-only (stats, search while an older service runs), still answers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-journal-old-'));
  try {
    const file = join(dir, 'archive.db');
    const db = new Database(file);
    // The migrations up to the deliveries table, as an older release left them.
    for (let i = 0; i < 3; i++) db.exec(MIGRATIONS[i]!);
    db.pragma('user_version = 3');
    db.close();
    const store = createSqliteStore({ file, readonly: true });
    try {
      const st = await store.stats();
      assert.equal(st.messages, 0);
      assert.equal(st.journalMerged, 0);
      assert.deepEqual(await store.search({ from: 'x' }), []);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
