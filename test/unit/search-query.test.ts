/**
 * The `search` query language as FTS5 receives it (store-sqlite/fts-translate.ts) and the command's
 * dates (cli/dates.ts): nothing the operator types reaches FTS5 as syntax, and what cannot be read
 * is an error naming where.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { translateQuery } from '../../src/adapters/store-sqlite/fts-translate.js';
import { parseSearchQuery, type QueryNode } from '../../src/core/search/query-language.js';
import { parseDateOption } from '../../src/cli/dates.js';
import { MailsluiceError } from '../../src/core/errors/index.js';

const parse = (q: string): QueryNode | null => parseSearchQuery(q, { now: Date.UTC(2026, 11, 7) });

test('every term reaches FTS5 quoted, in the columns its field names', () => {
  const sql = (q: string, journal = false): { sql: string; args: unknown[] } => translateQuery(parse(q)!, { journal });
  assert.deepEqual(sql('subject:"q1 plan"').args, ['{subject} : "q1 plan"']);
  assert.deepEqual(sql('from:ali*').args, ['{sender} : "ali" *']);
  assert.deepEqual(sql('a b').args, ['({subject sender to_rcpt cc_rcpt bcc_rcpt body attachments} : "a" AND {subject sender to_rcpt cc_rcpt bcc_rcpt body attachments} : "b")']);
  assert.deepEqual(sql('"NEAR(a b)"*').args, ['{subject sender to_rcpt cc_rcpt bcc_rcpt body attachments} : "NEAR(a b)" *']);
  // A negation and the non-text terms are SQL beside one MATCH of the text terms.
  const mixed = sql('a OR (to:b -cc:c has:attachment connection:x before:2024)');
  assert.match(mixed.sql, /NOT \(m\.id IN/);
  assert.deepEqual(mixed.args.slice(1), ['{to_rcpt} : "b"', '{cc_rcpt} : "c"', 'x', '2024-01-01T00:00:00.000Z']);
  assert.match(sql('a', true).sql, /COALESCE\(h\.merged_into, h\.id\)/);
});

test('every translated query is one FTS5 and SQLite accept, and finds what it says', () => {
  const db = new Database(':memory:');
  db.exec("ATTACH ':memory:' AS s");
  db.exec("CREATE VIRTUAL TABLE s.messages_search USING fts5(subject, sender, to_rcpt, cc_rcpt, bcc_rcpt, body, attachments, stems, tokenize='unicode61 remove_diacritics 2')");
  db.exec('CREATE TABLE messages (id INTEGER PRIMARY KEY, connection TEXT, date TEXT, has_attachments INTEGER)');
  db.prepare("INSERT INTO messages VALUES (1, 'c', '2024-03-05T10:00:00.000Z', 0), (2, 'd', NULL, 1)").run();
  const row = db.prepare('INSERT INTO s.messages_search (rowid, subject, sender, body) VALUES (?, ?, ?, ?)');
  row.run(1, 'a naïve fact', 'Alice <alice@example.com>', 'about AND/OR');
  row.run(2, 'other', 'Bob <bob@example.com>', 'NEAR(a b) text');
  const ids = (q: string): number[] => {
    const c = translateQuery(parse(q)!, { journal: false });
    return db.prepare(`SELECT m.id FROM messages m WHERE ${c.sql} ORDER BY m.id`).pluck().all(...c.args) as number[];
  };
  for (const text of ['"naïve fa"*', '"AND" "OR" "NOT"', 'NEAR(a', '^a', 'a:b', '"it""s"', 'x"', '*a*', '{subject}', 'col:x']) {
    let q: QueryNode | null = null;
    try {
      q = parse(text);
    } catch (e) {
      assert.ok(e instanceof MailsluiceError && e.code === 'SEARCH_QUERY_INVALID', text);
    }
    if (q) assert.doesNotThrow(() => ids(text), text);
  }
  assert.deepEqual(ids('naive fac*'), [1]);
  assert.deepEqual(ids('from:alice@example.com'), [1]);
  assert.deepEqual(ids('from:example.com -alice'), [2]);
  assert.deepEqual(ids('-before:2025'), [2], 'a message with no date is not before any date');
  assert.deepEqual(ids('has:attachment OR connection:c'), [1, 2]);
  assert.deepEqual(ids('NEAR'), [2]);
  db.close();
});

test('dates: a day or a time with its zone; anything else names the option and the value', () => {
  assert.equal(parseDateOption('since', '2026-01-31'), '2026-01-31');
  assert.equal(parseDateOption('since', '2026-01-31T08:00:00+02:00'), '2026-01-31T06:00:00.000Z');
  assert.equal(parseDateOption('before', '2026-01-31T08:00Z'), '2026-01-31T08:00:00.000Z');
  for (const bad of ['yesterday', '2026-02-30', '31.01.2026', '2026-01-31T08:00:00', '']) {
    assert.throws(() => parseDateOption('since', bad), (e: unknown) => e instanceof MailsluiceError && e.code === 'CLI_USAGE' && e.message.startsWith(`--since: cannot read ${JSON.stringify(bad)}`), bad);
  }
});
