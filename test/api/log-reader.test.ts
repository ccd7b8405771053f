/**
 * `readLogPage`: a connection's log paged newest first by byte offset, across the 64 KiB chunks
 * it reads backwards in, filtered by level, bounded in what one page scans.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEPT_LOG_CURSOR, openKeptLog, readKeptLogPage, readLogPage, type LogPageRequest } from '../../src/api/log-reader.js';

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailsluice-logreader-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function record(i: number, level = 'info'): string {
  // Lengths vary, so records straddle chunk boundaries at every offset.
  return JSON.stringify({ time: new Date(1_700_000_000_000 + i * 1000).toISOString(), level, msg: `record ${i}`, pad: 'x'.repeat((i * 37) % 900) });
}

async function walk(file: string, req: Omit<LogPageRequest, 'before'>): Promise<{ records: Record<string, unknown>[]; pages: number }> {
  const records: Record<string, unknown>[] = [];
  let before: number | undefined;
  let pages = 0;
  for (;;) {
    const page = await readLogPage(file, { ...req, ...(before !== undefined ? { before } : {}) });
    pages++;
    records.push(...page.records);
    if (page.next === null) return { records, pages };
    before = Number(page.next);
  }
}

test('a log not written yet is empty', async () => {
  assert.deepEqual(await readLogPage(join(tmpdir(), 'no-such-dir-mailsluice', 'x.log'), { limit: 10 }), { records: [], next: null });
});

test(
  'pages newest first go through every record exactly once, across chunks',
  withDir(async (dir) => {
    const file = join(dir, 'journal.log');
    const n = 400;
    writeFileSync(file, Array.from({ length: n }, (_, i) => record(i) + '\n').join(''));
    for (const limit of [1, 7, 100, 1000]) {
      const { records, pages } = await walk(file, { limit });
      assert.deepEqual(
        records.map((r) => r.msg),
        Array.from({ length: n }, (_, i) => `record ${n - 1 - i}`),
        `limit ${limit}`,
      );
      assert.equal(pages, Math.ceil(n / limit), 'no empty last page');
    }
    // Records appended after the first page do not shift the next ones.
    const first = await readLogPage(file, { limit: 5 });
    appendFileSync(file, record(999) + '\n');
    const second = await readLogPage(file, { limit: 5, before: Number(first.next) });
    assert.deepEqual(
      second.records.map((r) => r.msg),
      ['record 394', 'record 393', 'record 392', 'record 391', 'record 390'],
    );
  }),
);

test(
  'a level shows that level and above; a line that is not JSON is shown as it is; a cursor past the end starts at the end',
  withDir(async (dir) => {
    const file = join(dir, 'journal.log');
    writeFileSync(file, [record(0, 'debug'), record(1, 'warn'), 'not json {', record(2, 'info'), record(3, 'error')].join('\n') + '\n' + record(4, 'info'));
    const warn = await readLogPage(file, { limit: 10, level: 'warn' });
    assert.deepEqual(
      warn.records.map((r) => r.msg),
      ['record 3', 'record 1'],
    );
    const all = await readLogPage(file, { limit: 10, before: 10 ** 12 });
    assert.deepEqual(
      all.records.map((r) => r.msg ?? r.line),
      ['record 4', 'record 3', 'record 2', 'not json {', 'record 1', 'record 0'],
    );
    assert.equal(all.next, null);
  }),
);

test(
  'a rare level ends a page short at the scan limit, with a cursor that finds it further back',
  withDir(async (dir) => {
    const file = join(dir, 'big.log');
    const filler = Array.from({ length: 20_000 }, (_, i) => record(i + 1) + '\n').join('');
    writeFileSync(file, record(0, 'error') + '\n' + filler);
    const first = await readLogPage(file, { limit: 10, level: 'error' });
    assert.deepEqual(first.records, []);
    assert.ok(first.next !== null, 'a cursor to go on from');
    const { records } = await walk(file, { limit: 10, level: 'error' });
    assert.deepEqual(
      records.map((r) => r.msg),
      ['record 0'],
    );
  }),
);

test(
  'the kept log: pages go on from the current file into the rotated ones, newest first, every record once; the download is all of them oldest first',
  withDir(async (dir) => {
    const file = join(dir, 'journal.log');
    // 250 records written in order over four files: .3 (oldest) … .1, then the current file.
    const lines = Array.from({ length: 250 }, (_, i) => record(i) + '\n');
    writeFileSync(`${file}.3`, lines.slice(0, 50).join(''));
    writeFileSync(`${file}.2`, lines.slice(50, 120).join(''));
    writeFileSync(`${file}.1`, lines.slice(120, 200).join(''));
    writeFileSync(file, lines.slice(200).join(''));
    writeFileSync(`${file}.5`, 'an orphan past a gap is not part of the kept log\n');
    for (const limit of [1, 7, 50, 80, 1000]) {
      const seen: unknown[] = [];
      let cursor: string | undefined;
      let pages = 0;
      for (;;) {
        const page = await readKeptLogPage(file, { limit, ...(cursor !== undefined ? { cursor } : {}) });
        pages++;
        assert.ok(page.records.length === limit || page.next === null, `a full page unless it is the last (limit ${limit})`);
        seen.push(...page.records.map((r) => r.msg));
        if (page.next === null) break;
        assert.match(page.next, KEPT_LOG_CURSOR);
        cursor = page.next;
      }
      assert.deepEqual(seen, Array.from({ length: 250 }, (_, i) => `record ${249 - i}`), `limit ${limit}`);
      assert.equal(pages, Math.ceil(250 / limit), `no empty page (limit ${limit})`);
    }
    const fromEnd = await readKeptLogPage(file, { limit: 3, cursor: '2:' });
    assert.equal(fromEnd.records[0]!.msg, 'record 119', '`<n>:` is the end of rotated file n');
    const kept = await openKeptLog(file);
    assert.equal(kept.size, Buffer.byteLength(lines.join('')));
    const text = Buffer.from(await new Response(kept.stream).arrayBuffer()).toString('utf8');
    assert.equal(text, lines.join(''), 'oldest first, byte for byte');
    const none = await openKeptLog(join(dir, 'nothing.log'));
    assert.deepEqual([none.size, none.stream], [0, null]);
  }),
);
