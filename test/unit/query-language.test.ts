/**
 * The search query language (core/search/query-language.ts, query-dates.ts): every operator read
 * into the tree a store translates, dates as people write them read against the clock given, and
 * every mistake a one-line SEARCH_QUERY_INVALID naming the character (in code points) where it is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allOf, highlightTerms, parseSearchQuery, quoteValue, type QueryNode } from '../../src/core/search/query-language.js';
import { parseQueryDate } from '../../src/core/search/query-dates.js';
import { MailsluiceError } from '../../src/core/errors/index.js';

/** Monday 2026-12-07 03:30 UTC. */
const NOW = Date.UTC(2026, 11, 7, 3, 30);
const parse = (q: string): QueryNode | null => parseSearchQuery(q, { now: NOW });
const word = (value: string, field = 'any'): QueryNode => ({ kind: 'text', field, value, match: 'word' }) as QueryNode;

test('words side by side are AND-ed; quotes make a phrase, * a prefix', () => {
  assert.deepEqual(parse('invoice'), word('invoice'));
  assert.deepEqual(parse('  invoice   march '), { kind: 'and', children: [word('invoice'), word('march')] });
  assert.deepEqual(parse('"quarterly report"'), { kind: 'text', field: 'any', value: 'quarterly report', match: 'phrase' });
  assert.deepEqual(parse('invoi*'), { kind: 'text', field: 'any', value: 'invoi', match: 'prefix' });
  assert.deepEqual(parse('"quarterly rep"*'), { kind: 'text', field: 'any', value: 'quarterly rep', match: 'prefix' });
  assert.deepEqual(parse('письма'), word('письма'));
  assert.equal(parse('   '), null);
  assert.equal(parse(''), null);
});

test('AND, OR, - and NOT with parentheses: OR binds loosest', () => {
  assert.deepEqual(parse('a AND b'), { kind: 'and', children: [word('a'), word('b')] });
  assert.deepEqual(parse('a b OR c'), { kind: 'or', children: [{ kind: 'and', children: [word('a'), word('b')] }, word('c')] });
  assert.deepEqual(parse('a (b OR c)'), { kind: 'and', children: [word('a'), { kind: 'or', children: [word('b'), word('c')] }] });
  assert.deepEqual(parse('-draft'), { kind: 'not', child: word('draft') });
  assert.deepEqual(parse('NOT draft'), { kind: 'not', child: word('draft') });
  assert.deepEqual(parse('a -(b OR c)'), { kind: 'and', children: [word('a'), { kind: 'not', child: { kind: 'or', children: [word('b'), word('c')] } }] });
  assert.deepEqual(parse('-"x y"'), { kind: 'not', child: { kind: 'text', field: 'any', value: 'x y', match: 'phrase' } });
  assert.deepEqual(parse('-from:bob'), { kind: 'not', child: word('bob', 'from') });
  // Lowercase operators, a hyphen inside a word and quoted operators are words.
  assert.deepEqual(parse('a or b'), { kind: 'and', children: [word('a'), word('or'), word('b')] });
  assert.deepEqual(parse('e-mail'), word('e-mail'));
  assert.deepEqual(parse('"OR"'), { kind: 'text', field: 'any', value: 'OR', match: 'phrase' });
  // An unknown field is a word (a time, a URL).
  assert.deepEqual(parse('10:30'), word('10:30'));
  assert.deepEqual(parse('foo:bar'), word('foo:bar'));
});

test('field terms: from to cc bcc subject attachment, quoted values, has:attachment, connection:', () => {
  for (const f of ['from', 'to', 'cc', 'bcc', 'subject', 'attachment']) assert.deepEqual(parse(`${f}:alice`), word('alice', f), f);
  assert.deepEqual(parse('FROM:alice@example.com'), word('alice@example.com', 'from'));
  assert.deepEqual(parse('subject:"quarterly report"'), { kind: 'text', field: 'subject', value: 'quarterly report', match: 'phrase' });
  assert.deepEqual(parse('from:ali*'), { kind: 'text', field: 'from', value: 'ali', match: 'prefix' });
  assert.deepEqual(parse('has:attachment'), { kind: 'has-attachment' });
  assert.deepEqual(parse('connection:journal-1'), { kind: 'connection', name: 'journal-1' });
  assert.deepEqual(parse('connection:"my box"'), { kind: 'connection', name: 'my box' });
});

test('dates: ISO day, month, year, DD.MM.YYYY, instants, today/yesterday in English and Russian, 7d 2w 3m 1y', () => {
  const after = (v: string): string => (parse(`after:${v}`) as { at: string }).at;
  assert.equal(after('2024-03-05'), '2024-03-05T00:00:00.000Z');
  assert.equal(after('2024-03'), '2024-03-01T00:00:00.000Z');
  assert.equal(after('2024'), '2024-01-01T00:00:00.000Z');
  assert.equal(after('05.03.2024'), '2024-03-05T00:00:00.000Z');
  assert.equal(after('5.3.2024'), '2024-03-05T00:00:00.000Z');
  assert.equal(after('2024-03-05T10:30'), '2024-03-05T10:30:00.000Z');
  assert.equal(after('2024-03-05T10:30:00+03:00'), '2024-03-05T07:30:00.000Z');
  assert.equal(after('today'), '2026-12-07T00:00:00.000Z');
  assert.equal(after('сегодня'), '2026-12-07T00:00:00.000Z');
  assert.equal(after('yesterday'), '2026-12-06T00:00:00.000Z');
  assert.equal(after('Вчера'), '2026-12-06T00:00:00.000Z');
  assert.equal(after('7d'), '2026-11-30T00:00:00.000Z');
  assert.equal(after('2w'), '2026-11-23T00:00:00.000Z');
  assert.equal(after('1m'), '2026-11-07T00:00:00.000Z');
  assert.equal(after('1y'), '2025-12-07T00:00:00.000Z');
  assert.deepEqual(parse('before:2024'), { kind: 'date', op: 'before', at: '2024-01-01T00:00:00.000Z' });
  // A month back from 31 March is the last day of February.
  assert.equal(parseQueryDate('1m', Date.UTC(2024, 2, 31, 12))?.start, Date.UTC(2024, 1, 29));
  assert.deepEqual(parseQueryDate('2024-02', NOW), { start: Date.UTC(2024, 1, 1), end: Date.UTC(2024, 2, 1) });
  for (const bad of ['2024-02-30', '31.02.2024', '2024-13', '1900', 'tomorrow', 'last week', '2024/03/05', '03-05-2024', '', '7x', '2024-03-05T25:00']) {
    assert.equal(parseQueryDate(bad, NOW), null, bad);
  }
});

/** `q` fails with SEARCH_QUERY_INVALID, one line, at character `column`, saying `said`. */
function fails(q: string, column: number, said: RegExp): void {
  assert.throws(
    () => parse(q),
    (e: unknown) => {
      assert.ok(e instanceof MailsluiceError && e.code === 'SEARCH_QUERY_INVALID', `${q}: ${String(e)}`);
      assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
      assert.match(e.message, new RegExp(`at character ${column}\\b`), `${q}: ${e.message}`);
      assert.match(e.message, said, q);
      assert.equal((e.details as { column: number }).column, column);
      return true;
    },
    q,
  );
}

test('every mistake is one line naming the problem and its character', () => {
  fails('"naïve fa', 1, /never closed/);
  fails('ü€ "x', 4, /never closed/);
  fails('a "" b', 3, /empty phrase/);
  fails('a * b', 3, /a \* on its own/);
  fails('a (b OR c', 3, /\( that is never closed/);
  fails('a b)', 4, /\) that closes nothing/);
  fails('a OR', 3, /OR with nothing after it/);
  fails('OR a', 1, /OR with nothing before it/);
  fails('a OR OR b', 6, /OR with nothing before it/);
  fails('AND a', 1, /AND with nothing before it/);
  fails('a AND', 3, /AND with nothing after it/);
  fails('a - b', 3, /a - with nothing after it/);
  fails('a NOT', 3, /NOT with nothing after it/);
  fails('a ()', 4, /empty parentheses/);
  fails('from: alice', 1, /from: has no value/);
  fails('x subject:', 3, /subject: has no value/);
  fails('has:attachments', 5, /has:attachments is not known/);
  fails('before:tomorrow', 8, /before:tomorrow is not a date.*2024-03-05/);
  fails('after:"3 weeks" x', 7, /not a date/);
  fails('письмо after:31.02.2024', 14, /after:31.02.2024 is not a date/);
  fails('a @@', 3, /no letter or digit/);
  fails('a --', 4, /no letter or digit/);
  fails('ab"cd"', 3, /quote in the middle of a word/);
  fails('connection:jo*', 12, /not a prefix/);
  fails('x'.repeat(2001), 2001, /longer than 2000/);
  fails(`${'('.repeat(40)}a${')'.repeat(40)}`, 34, /levels of parentheses/);
});

test('allOf, highlightTerms and quoteValue', () => {
  assert.equal(allOf(null, undefined), null);
  assert.deepEqual(allOf(parse('a b'), null, parse('c')), { kind: 'and', children: [word('a'), word('b'), word('c')] });
  assert.deepEqual(highlightTerms(parse('report "Q1 plan" -draft subj* from:bob')), [
    { word: 'report', prefix: false },
    { word: 'q1', prefix: false },
    { word: 'plan', prefix: false },
    { word: 'subj', prefix: true },
    { word: 'bob', prefix: false },
  ]);
  assert.equal(quoteValue('alice@example.com'), 'alice@example.com');
  assert.equal(quoteValue('Alice Smith'), '"Alice Smith"');
  assert.equal(quoteValue('-x'), '"-x"');
  assert.deepEqual(parse(`from:${quoteValue('Alice "A" Smith')}`), { kind: 'text', field: 'from', value: 'Alice  A  Smith', match: 'phrase' });
});

test('a query read without relative dates (a legal hold) refuses today, 7d and the like, not fixed dates', () => {
  const fixed = (q: string): QueryNode | null => parseSearchQuery(q, { now: NOW, relativeDates: false });
  assert.deepEqual(fixed('after:2024-03'), { kind: 'date', op: 'after', at: '2024-03-01T00:00:00.000Z' });
  for (const q of ['after:today', 'before:7d', 'after:вчера']) {
    assert.throws(() => fixed(q), (e: unknown) => e instanceof MailsluiceError && /moves with the clock at character/.test(e.message), q);
  }
});
