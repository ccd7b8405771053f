/**
 * The `search` query language as FTS5 receives it (store-sqlite/fts-query.ts) and the command's
 * dates (cli/dates.ts): nothing the operator types reaches FTS5 as syntax, and what cannot be read
 * is an error naming where.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { toFtsQuery } from '../../src/adapters/store-sqlite/fts-query.js';
import { parseDateOption } from '../../src/cli/dates.js';
import { MailsluiceError } from '../../src/core/errors/index.js';

test('words, phrases and prefixes become quoted FTS5 terms', () => {
  assert.equal(toFtsQuery('invoice  march'), '"invoice" "march"');
  assert.equal(toFtsQuery('"naïve fact" fa*'), '"naïve fact" "fa"*');
  assert.equal(toFtsQuery('"naïve fa"*'), '"naïve fa"*');
  assert.equal(toFtsQuery('NOT a OR b NEAR(c) x:y -z'), '"NOT" "a" "OR" "b" "NEAR(c)" "x:y" "-z"');
  assert.equal(toFtsQuery('ab"cd ef"'), '"ab" "cd ef"');
  assert.equal(toFtsQuery('   '), null);
});

test('what cannot be translated is SEARCH_QUERY_INVALID naming the character (in code points)', () => {
  const fails = (q: string, re: RegExp): void => {
    assert.throws(() => toFtsQuery(q), (e: unknown) => e instanceof MailsluiceError && e.code === 'SEARCH_QUERY_INVALID' && re.test(e.message), q);
  };
  fails('"naïve fa', /never closed at character 1 \("naïve fa\)/);
  fails('ü€ "x', /never closed at character 4/);
  fails('a "" b', /an empty phrase at character 3/);
  fails('a * b', /a \* on its own at character 3/);
});

test('every translated query is one FTS5 accepts', () => {
  const db = new Database(':memory:');
  db.exec("CREATE VIRTUAL TABLE f USING fts5(a, tokenize='unicode61 remove_diacritics 2')");
  db.prepare('INSERT INTO f VALUES (?)').run('a naïve fact about AND/OR');
  const q = db.prepare('SELECT count(*) AS n FROM f WHERE f MATCH ?');
  for (const text of ['"naïve fa"*', 'AND OR NOT', 'NEAR(a b, 2)', '^a', 'a:b', '"it""s"', '*a*', '(((', 'x"y"z']) {
    const match = toFtsQuery(text);
    if (match) assert.doesNotThrow(() => q.get(match), text);
  }
  assert.equal((q.get(toFtsQuery('naive fac*')!) as { n: number }).n, 1);
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
