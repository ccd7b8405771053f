import { textQuery } from '../harness/search-text.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import type { TakenRecord } from '../../src/core/ports/drain-ledger.js';
import { attributes } from '../contract/store-harness.js';

const execFileP = promisify(execFile);

const rec = (i: number, sha: string, blob: boolean): TakenRecord => ({
  connection: 'c',
  sourceKey: `imap:INBOX:1:${i}`,
  mailbox: 'INBOX',
  uidValidity: 1,
  uid: i,
  uidl: null,
  sha256: sha,
  size: 10,
  blob: blob ? { ref: `pack-00000001:${i}:10`, storedSize: 10 } : null,
  takenAt: 0,
});

test('a duplicate that finished storing before its original commits in the same batch', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-store-'));
  const store = createSqliteStore({ file: join(dir, 'archive.db') });
  try {
    const sha = 'a'.repeat(64);
    await store.commitTaken([rec(2, sha, false), rec(1, sha, true)]);
    const s = await store.stats();
    assert.equal(s.messages, 1, 'identical bytes from one connection are one message');
    assert.equal(s.blobs, 1);
    assert.deepEqual(await store.lookupTaken('c', ['imap:INBOX:1:1', 'imap:INBOX:1:2', 'imap:INBOX:1:3']), new Set(['imap:INBOX:1:1', 'imap:INBOX:1:2']));
    // Settled means "needs nothing more on the server": pending actions are not settled.
    assert.deepEqual(await store.lookupSettled('c', ['imap:INBOX:1:1', 'imap:INBOX:1:2']), new Set());
    await store.markActionDone('c', ['imap:INBOX:1:2']);
    assert.deepEqual(await store.lookupSettled('c', ['imap:INBOX:1:1', 'imap:INBOX:1:2', 'imap:INBOX:1:3']), new Set(['imap:INBOX:1:2']));
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parse results are searchable, and a message parsed again replaces its index row', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-store-'));
  const store = createSqliteStore({ file: join(dir, 'archive.db') });
  try {
    await store.commitTaken([rec(1, 'b'.repeat(64), true)]);
    const [m] = await store.listUnparsed(10);
    const attrs = attributes({ To: [], ReceivedDate: null, GlobalMessageId: 'x@y' });
    await store.saveParsed([{ id: m!.id, outcome: { ok: true, attributes: attrs } }]);
    await store.saveParsed([{ id: m!.id, outcome: { ok: true, attributes: attrs } }]);
    assert.equal((await store.search({ query: textQuery('revenue') })).length, 1);
    assert.equal((await store.search({ query: textQuery('quarterly'), from: 'ann@' })).length, 1);
    assert.equal((await store.search({ query: textQuery('nothing-like-this') })).length, 0);
    assert.equal((await store.listUnparsed(10)).length, 0);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite store: several processes opening one new archive at the same moment all succeed (each migration runs once)', async () => {
  const storeModule = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'adapters', 'store-sqlite', 'index.js')).href;
  const script = `import { createSqliteStore } from ${JSON.stringify(storeModule)};
const s = createSqliteStore({ file: process.argv[1] });
await s.close();`;
  for (let round = 0; round < 5; round++) {
    const dir = mkdtempSync(join(tmpdir(), 'ms-migrate-'));
    try {
      const file = join(dir, 'archive.db');
      const runs = Array.from({ length: 4 }, () => execFileP(process.execPath, ['--input-type=module', '-e', script, file]).then(() => null, (err: { stderr?: string }) => err.stderr ?? String(err)));
      const failures = (await Promise.all(runs)).filter((f) => f !== null);
      assert.deepEqual(failures, [], `round ${round}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});
