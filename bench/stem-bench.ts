/**
 * Word forms' cost on the index writer thread (ADR 0041): per message of the shared corpus (and
 * of the seeds' Russian texts), the time of `stemText` over what a full-text row gets (subject,
 * body, attachment names) against the time FTS5 takes to write the row, and the row written with a
 * stem column. One thread, like the writer; the best of five passes.
 *
 * Run: `./node_modules/.bin/tsc -p tsconfig.json && node dist/bench/stem-bench.js`.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { createPostalMimeParser } from '../src/adapters/parser-postal-mime/index.js';
import { asParsedRecord, indexEntryOf, type IndexEntry } from '../src/core/message/parsed-record.js';
import { stemText } from '../src/adapters/stem-node/word-forms.js';

const shared = resolve(process.cwd(), '..', 'shared');
const corpus = join(shared, 'corpus');
const manifest = JSON.parse(readFileSync(join(corpus, 'manifest.json'), 'utf8')) as { items: Array<{ file: string }> };

async function entries(): Promise<IndexEntry[]> {
  const parser = createPostalMimeParser();
  try {
    const out: IndexEntry[] = [];
    let id = 1;
    for (const i of manifest.items) out.push(indexEntryOf(id++, asParsedRecord(await parser.parse(readFileSync(join(corpus, i.file))))));
    for (const f of readdirSync(join(shared, 'seeds'))) {
      const text = readFileSync(join(shared, 'seeds', f), 'utf8');
      // The seeds' Russian text cut into message-sized bodies of about 2 KB.
      for (let at = 0; at < text.length; at += 2000) out.push({ id: id++, subject: 'Журнал', from: 'a@example.test', to: '', cc: '', bcc: '', body: text.slice(at, at + 2000), attachmentNames: '', hasAttachments: false });
    }
    return out;
  } finally {
    await parser.close();
  }
}

/** The addresses as one column, as the index before per-field columns held them. */
function addresses(e: IndexEntry): string {
  return [e.from, e.to, e.cc, e.bcc].filter(Boolean).join(', ');
}

function best(passes: number, fn: () => void): number {
  let b = Infinity;
  for (let i = 0; i < passes; i++) {
    const t0 = performance.now();
    fn();
    b = Math.min(b, performance.now() - t0);
  }
  return b;
}

const rows = await entries();
const text = (e: IndexEntry): string => `${e.subject} ${e.body} ${e.attachmentNames}`;
const chars = rows.reduce((n, e) => n + text(e).length, 0);
const words = rows.reduce((n, e) => n + (text(e).match(/[\p{L}\p{N}\p{Co}\p{M}]+/gu)?.length ?? 0), 0);
let stemmed: string[] = [];
// The first pass meets every word for the first time (the cache of recent stems empty).
const coldMs = best(1, () => {
  stemmed = rows.map((e) => stemText(text(e)));
});
const stemMs = best(5, () => {
  stemmed = rows.map((e) => stemText(text(e)));
});
const dir = mkdtempSync(join(tmpdir(), 'stem-bench-'));
const db = new Database(join(dir, 'search.db'));
db.pragma('journal_mode = WAL');
db.exec(`CREATE VIRTUAL TABLE plain USING fts5(subject, addresses, body, attachments, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE stemmed USING fts5(subject, addresses, body, attachments, stems, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2');`);
const plain = db.prepare('INSERT OR REPLACE INTO plain (rowid, subject, addresses, body, attachments) VALUES (?, ?, ?, ?, ?)');
const withStems = db.prepare('INSERT OR REPLACE INTO stemmed (rowid, subject, addresses, body, attachments, stems) VALUES (?, ?, ?, ?, ?, ?)');
const plainMs = best(5, () => db.transaction(() => rows.forEach((e) => plain.run(e.id, e.subject, addresses(e), e.body, e.attachmentNames)))());
const stemsMs = best(5, () => db.transaction(() => rows.forEach((e, i) => withStems.run(e.id, e.subject, addresses(e), e.body, e.attachmentNames, stemmed[i])))());
db.close();
rmSync(dir, { recursive: true, force: true });
const per = (ms: number): string => `${((ms * 1000) / rows.length).toFixed(1)} µs`;
process.stdout.write(
  [
    `${rows.length} messages, ${(chars / rows.length).toFixed(0)} characters and ${(words / rows.length).toFixed(0)} words a message on average`,
    `stemText, first pass (every word new): ${per(coldMs)} a message (${Math.round(words / (coldMs / 1000)).toLocaleString('en')} words/s)`,
    `stemText, again (words seen before): ${per(stemMs)} a message (${Math.round(words / (stemMs / 1000)).toLocaleString('en')} words/s)`,
    `FTS5 row without stems: ${per(plainMs)} a message`,
    `FTS5 row with the stem column: ${per(stemsMs)} a message (+${per(stemsMs - plainMs)})`,
    `added on the writer thread: ${per(coldMs + stemsMs - plainMs)} a message with every word new, ${per(stemMs + stemsMs - plainMs)} with words seen before`,
  ].join('\n') + '\n',
);
