/** A search hit's excerpt: the words of the query found in the text, marked, with context. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXCERPT_CHARS, excerpt, plainText, queryWords } from '../../src/api/routes/excerpt.js';

test('query words: words, phrases split into words, prefixes, lowercase', () => {
  assert.deepEqual(queryWords('Revenue "noodle place" invoi* "Q1 plan"*'), [
    { word: 'revenue', prefix: false },
    { word: 'noodle', prefix: false },
    { word: 'place', prefix: false },
    { word: 'invoi', prefix: true },
    { word: 'q1', prefix: true },
    { word: 'plan', prefix: true },
  ]);
  assert.deepEqual(queryWords(undefined), []);
});

test('excerpt: around the first word found, whole words only, every match marked', () => {
  const text = `${'a '.repeat(200)}the Überweisung of the invoices, not invoice-less ${'z '.repeat(200)}`;
  const cut = excerpt(text, queryWords('überweisung invoice*'));
  assert.match(cut, /^….*the «Überweisung» of the «invoices», not «invoice»-less.*…$/);
  assert.ok(cut.replace(/[«»…]/gu, '').length <= EXCERPT_CHARS, 'at most about EXCERPT_CHARS of the text');
  assert.equal(excerpt('a subject match only', queryWords('zanzibar')), 'a subject match only', 'not in the text: its beginning');
  assert.equal(excerpt('planet plan', queryWords('plan')), 'planet «plan»', 'a word is not a prefix unless asked');
});

test('plain text: the text body, else the HTML body without its tags; whitespace collapsed', () => {
  assert.equal(plainText('one\r\n\r\n two', '<p>x</p>'), 'one two');
  assert.equal(plainText('', '<style>p{}</style><p>The <b>noodle</b>&nbsp;place</p>'), 'The noodle place');
});
