/**
 * Word forms (stem-node/word-forms.ts, ADR 0041): the stems Snowball really gives for the
 * Russian and English forms people search by, what is left unstemmed, and that the stems written
 * for a text meet the stems of its words as FTS5's `unicode61 remove_diacritics 2` tokenizer cuts
 * them, on real mail (the shared corpus) and on the hard cases (ё, й, diacritics, mixed scripts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import '../harness/sqlite-keep.js';
import { MAX_STEMMED_CHARS, stemText, stemWord } from '../../src/adapters/stem-node/word-forms.js';
import { CORPUS, assertCorpusPresent, loadCorpus } from '../harness/corpus.js';
import { REPO_ROOT } from '../harness/cli.js';

const stems = (words: string[]): Array<string | null> => words.map(stemWord);

test('Russian: the forms of письмо share a stem with each other; Snowball gives писем (genitive plural) another', () => {
  assert.deepEqual(stems(['письмо', 'письма', 'письмами', 'письме', 'письму', 'письмом', 'Письма', 'ПИСЬМАМИ']), Array(8).fill('письм'));
  // Snowball's Russian algorithm only strips endings; the fleeting vowel of "писем" leaves "пис".
  assert.equal(stemWord('писем'), 'пис');
  assert.deepEqual(stems(['договор', 'договора', 'договоров', 'договорами']), Array(4).fill('договор'));
  assert.deepEqual(stems(['встреча', 'встречи', 'встречами']), Array(3).fill('встреч'));
  assert.deepEqual(stems(['бухгалтерия', 'бухгалтерии']), ['бухгалтер', 'бухгалтер']);
});

test('English (Porter2): invoice and running in their forms; an irregular form stays apart', () => {
  assert.deepEqual(stems(['invoice', 'invoices', 'invoicing', 'invoiced', 'Invoice', 'INVOICES']), Array(6).fill('invoic'));
  assert.deepEqual(stems(['running', 'runs', 'run']), ['run', 'run', 'run']);
  assert.equal(stemWord('ran'), 'ran');
  // Porter2, not Porter's first algorithm: these are where the two differ.
  assert.deepEqual(stems(['generously', 'news', 'dying', 'communication']), ['generous', 'news', 'die', 'communic']);
});

test('ё is е in the stems (either way round, precomposed or not); й stays й; Latin diacritics go as unicode61 removes them', () => {
  assert.deepEqual(stems(['ёлка', 'елка', 'Ёлка', 'е\u0308лка']), Array(4).fill('елк'));
  assert.deepEqual(stems(['счёт', 'счета', 'отчёт', 'отчеты']), ['счет', 'счет', 'отчет', 'отчет']);
  assert.equal(stemWord('йод'), 'йод');
  assert.equal(stemWord('и\u0306од'), 'йод');
  assert.notEqual(stemWord('йод'), stemWord('иод'));
  assert.equal(stemWord('письмо\u0301'), 'письм'); // a stress mark, as dictionaries write it
  assert.deepEqual(stems(['café', 'CAFÉ', 'cafe\u0301', 'naïve', 'rünning']), ['cafe', 'cafe', 'cafe', 'naiv', 'run']);
});

test('what is not stemmed: numbers, words with digits, one letter, very long words, mixed or other scripts, more than one word', () => {
  for (const w of ['2024', 'x86', '0xdeadbeef', 'a', 'я', 'b'.repeat(MAX_STEMMED_CHARS + 1), 'Bаnk' /* Cyrillic а */, 'straße', 'ґанок', 'Ελλάδα', '中文字', 'e-mail', 'a@b.com', 'two words', '', '"']) {
    assert.equal(stemWord(w), null, w);
  }
  assert.equal(stemWord('b'.repeat(MAX_STEMMED_CHARS)), 'b'.repeat(MAX_STEMMED_CHARS));
});

test('stemText: every stemmable word of mixed text once, in order, split where unicode61 splits', () => {
  assert.equal(
    stemText('Re: Счёт-фактура №42: invoices for March, see письма и письмо; invoice_2024.pdf, user.name@example.com Ёлка 0xDEADBEEF'),
    're счет фактур invoic for march see письм pdf user name exampl com елк',
  );
  assert.equal(stemText(''), '');
  assert.equal(stemText('42 — 3.14 ✓'), '');
});

/** The words unicode61 remove_diacritics 2 makes of each text (fts5vocab's instances, per row). */
function unicode61Words(texts: string[]): Map<number, Set<string>> {
  const db = new Database(':memory:');
  db.exec("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2'); CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')");
  const ins = db.prepare('INSERT INTO t (rowid, x) VALUES (?, ?)');
  db.transaction(() => texts.forEach((x, i) => ins.run(i + 1, x)))();
  const out = new Map<number, Set<string>>();
  for (const { doc, term } of db.prepare('SELECT doc, term FROM v').all() as Array<{ doc: number; term: string }>) {
    let s = out.get(doc - 1);
    if (!s) out.set(doc - 1, (s = new Set()));
    s.add(term);
  }
  db.close();
  return out;
}

test('on real mail, stems meet: each word unicode61 indexes, stemmed as a query word, is in the text\'s stems, and the stem column keeps each stem as one word', () => {
  assertCorpusPresent();
  const texts = loadCorpus().map((b) => b.toString('utf8'));
  for (const f of readdirSync(join(REPO_ROOT, '..', 'shared', 'seeds'))) texts.push(readFileSync(join(REPO_ROOT, '..', 'shared', 'seeds', f), 'utf8'));
  texts.push(readFileSync(join(CORPUS, '_charsets', 'gmime', 'cyrillic.utf-8.txt'), 'utf8'));
  texts.push('ĲSSEL Ǆemal İstanbul ǅ Ωμέγα ½ ﬁle １２３ ẞ café Ёлка е\u0308лка Ⅻ x\u200by a\u00adb');
  const words = unicode61Words(texts);
  const stemTexts = texts.map(stemText);
  // The stem column as FTS5 indexes it: each row's terms must be exactly the stems written.
  const stemmed = unicode61Words(stemTexts);
  let checked = 0;
  let russian = 0;
  texts.forEach((_, i) => {
    const written = new Set(stemTexts[i] ? stemTexts[i].split(' ') : []);
    assert.deepEqual([...(stemmed.get(i) ?? [])].sort(), [...written].sort(), `text ${i}: the tokenizer changed a stem`);
    for (const w of words.get(i) ?? []) {
      const s = stemWord(w);
      if (s === null) continue;
      assert.ok(written.has(s), `text ${i}: "${w}" (stem "${s}") is indexed but its stem is not in the stem column`);
      checked++;
      if (/[а-я]/.test(s)) russian++;
    }
  });
  assert.ok(checked > 50_000 && russian > 500, `${checked} words checked, ${russian} Russian`);
});
