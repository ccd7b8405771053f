/**
 * A search the full-text index drives (newest first, stopping at a page) lists exactly what the
 * whole-query translation lists, page by page and in its count, also when journal reports are
 * merged into earlier ones, so that a match on a merged report lists its primary once.
 */
import { textQuery } from '../harness/search-text.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { translateQuery } from '../../src/adapters/store-sqlite/fts-translate.js';
import { parseSearchQuery } from '../../src/core/search/query-language.js';
import type { IndexEntry } from '../../src/core/message/parsed-record.js';
import { seededRandom } from '../harness/random.js';

const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'письмо', 'письма'];
const QUERIES = ['has:attachment', 'alpha OR beta OR gamma', 'alpha', 'beta gamma', 'alpha OR delta', '"beta gamma"', 'письмо', 'alpha -beta', 'gamma has:attachment', 'delta after:2024-06-01', 'alpha connection:b', 'from:sender3', 'from:sender3@example.com alpha'];

test('the index-driven search lists what the whole query lists, page by page, with merged journal reports', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailsluice-driven-'));
  const store = createSqliteStore({ file: join(dir, 'archive.db') });
  try {
    const rnd = seededRandom(17);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    // A connection of the test's own beside the store's: rows written as the drain would leave them.
    const db = new Database(join(dir, 'archive.db'));
    db.prepare('ATTACH ? AS s').run(join(dir, 'search.db'));
    const entries: IndexEntry[] = [];
    const blob = db.prepare("INSERT INTO blobs (sha256, ref, stored_size, size) VALUES (?, 'x', 1, 1)");
    const msg = db.prepare(
      `INSERT INTO messages (id, connection, sha256, size, mailbox, uid_validity, taken_at, parse_state, from_addr, subject, date, has_attachments)
       VALUES (?, ?, ?, 1, 'INBOX', 1, 0, 1, ?, ?, ?, ?)`,
    );
    for (let id = 1; id <= 900; id++) {
      const sha = id.toString(16).padStart(64, '0');
      const body = Array.from({ length: 3 }, () => pick(WORDS)).join(' ');
      const hasAttachments = rnd() < 0.3;
      blob.run(sha);
      msg.run(id, pick(['a', 'b']), sha, `sender${id % 5}@example.com`, `s${id}`, `2024-${String((id % 12) + 1).padStart(2, '0')}-01T00:00:00.000Z`, hasAttachments ? 1 : 0);
      entries.push({ id, subject: `s${id}`, from: `sender${id % 5}@example.com`, to: '', cc: '', bcc: '', body, attachmentNames: '', hasAttachments });
    }
    await store.searchIndex.write(entries);
    const search = store.searchIndex;
    const listed = async (q: string): Promise<number[]> => (await search.search({ query: textQuery(q), limit: 1000 })).map((h) => h.id);
    const paged = async (q: string, size: number): Promise<number[]> => {
      const ids: number[] = [];
      for (let beforeId: number | undefined; ; ) {
        const page = await search.search({ query: textQuery(q), limit: size, ...(beforeId !== undefined ? { beforeId } : {}) });
        ids.push(...page.map((h) => h.id));
        if (page.length < size) return ids;
        beforeId = page[page.length - 1]!.id;
      }
    };
    // What the whole translation (the search the index does not drive) lists.
    const expected = (q: string): number[] => {
      const c = translateQuery(parseSearchQuery(q, { now: Date.now() })!, { journal: true });
      return db.prepare(`SELECT m.id FROM messages m WHERE m.merged_into IS NULL AND ${c.sql} ORDER BY m.id DESC`).pluck().all(...c.args) as number[];
    };
    const check = async (label: string): Promise<void> => {
      // A filter outside the lean index's columns (the sender's text): the rows themselves are read.
      const bySender = (await search.search({ query: textQuery('alpha'), from: 'sender3', limit: 1000 })).map((h) => h.id);
      const sender3 = new Set(db.prepare("SELECT id FROM messages WHERE from_addr LIKE '%sender3%'").pluck().all() as number[]);
      assert.deepEqual(bySender, expected('alpha').filter((id) => sender3.has(id)), `${label}: alpha with the sender filter`);
      for (const q of QUERIES) {
        const want = expected(q);
        assert.ok(want.length > 0, `${label}: ${q} finds something`);
        assert.deepEqual(await listed(q), want, `${label}: ${q}`);
        assert.deepEqual(await paged(q, 7), want, `${label}: ${q} in pages of 7`);
        assert.deepEqual(await search.count({ query: textQuery(q) }), { total: want.length, more: false }, `${label}: count of ${q}`);
        assert.deepEqual(await search.count({ query: textQuery(q), limit: 5 }), { total: Math.min(5, want.length), more: want.length > 5 }, `${label}: capped count of ${q}`);
        // Out of time at once: at least what was counted (the clock is read every 256 matches), and more only when there are.
        const quick = await search.count({ query: textQuery(q) }, 0);
        assert.equal(quick.more, want.length > quick.total, `${label}: ${q} counted in no time`);
        assert.equal(quick.total, want.length > 256 ? 256 : want.length, `${label}: ${q} counted in no time`);
      }
    };
    await check('no merged report');
    // About a third of the reports merged into another (the primary, whose own merged_into is null).
    // Reports of one original carry the same attachments: merged only where the flags agree.
    // Mostly into an earlier report (the first saved is the primary); one in ten into a later one.
    const merge = db.prepare('UPDATE messages SET merged_into = ? WHERE id = ?');
    for (let id = 2; id <= 900; id++) {
      const into = rnd() < 0.1 ? 1 + Math.floor(rnd() * 900) : 1 + Math.floor(rnd() * (id - 1));
      if (into === id) continue;
      if (rnd() < 0.6 && entries[into - 1]!.hasAttachments === entries[id - 1]!.hasAttachments) merge.run(into, id);
    }
    db.prepare('UPDATE messages SET merged_into = NULL WHERE id IN (SELECT merged_into FROM messages WHERE merged_into IS NOT NULL)').run();
    assert.ok((db.prepare('SELECT COUNT(*) FROM messages WHERE merged_into IS NOT NULL').pluck().get() as number) > 100);
    await check('merged reports');
    db.close();
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
