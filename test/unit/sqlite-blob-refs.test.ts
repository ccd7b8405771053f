/**
 * The metadata side of reclaiming pack space (`SqliteBlobRefs`, ADR 0036) on a real SQLite file:
 * the switch moves only rows still at their old ref (a row purged meanwhile is not brought back,
 * a row moved meanwhile is not moved back), counts the rows left in the vacated pack in the same
 * transaction, and `refOf` answers a stale reader.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSqliteStore } from '../../src/adapters/store-sqlite/index.js';

test('blob refs: the switch is compare and set, counts what is left in the old pack, and refOf follows it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailsluice-blob-refs-'));
  const store = createSqliteStore({ file: join(dir, 'archive.db') });
  try {
    const db = store.connection().db;
    const ins = db.prepare('INSERT INTO blobs (sha256, ref, stored_size, size) VALUES (?, ?, ?, ?)');
    for (const [sha, ref] of [['a', 'pack-00000001:16:10'], ['b', 'pack-00000001:90:10'], ['c', 'pack-00000001:164:10'], ['d', 'pack-00000002:16:10']]) ins.run(sha, ref, 10, 20);
    assert.equal((await store.blobRefs.liveRefs()).length, 4);
    // b was purged and c moved elsewhere after the refs were read.
    db.prepare("DELETE FROM blobs WHERE sha256 = 'b'").run();
    db.prepare("UPDATE blobs SET ref = 'pack-00000009:16:10' WHERE sha256 = 'c'").run();
    const r = await store.blobRefs.switchRefs(
      [
        { sha256: 'a', from: 'pack-00000001:16:10', to: 'pack-00000003:16:42', storedSize: 42 },
        { sha256: 'b', from: 'pack-00000001:90:10', to: 'pack-00000003:122:10', storedSize: 10 },
        { sha256: 'c', from: 'pack-00000001:164:10', to: 'pack-00000003:196:10', storedSize: 10 },
      ],
      'pack-00000001:',
    );
    assert.deepEqual(r, { moved: 1, remaining: 0 });
    assert.equal(store.blobRefs.refOf('a'), 'pack-00000003:16:42');
    assert.equal((db.prepare("SELECT stored_size FROM blobs WHERE sha256 = 'a'").pluck().get() as number), 42);
    assert.equal(store.blobRefs.refOf('b'), null, 'a purged blob is not brought back');
    assert.equal(store.blobRefs.refOf('c'), 'pack-00000009:16:10', 'a row moved meanwhile stays where it went');
    // A row committed into a pack after its survey is counted: the pack is kept.
    ins.run('e', 'pack-00000002:90:10', 10, 20);
    assert.deepEqual(await store.blobRefs.switchRefs([{ sha256: 'd', from: 'pack-00000002:16:10', to: 'pack-00000004:16:10', storedSize: 10 }], 'pack-00000002:'), { moved: 1, remaining: 1 });
    // A prefix is a whole pack name: pack-00000002 is not pack-000000020.
    ins.run('f', 'pack-000000020:16:10', 10, 20);
    assert.equal((await store.blobRefs.switchRefs([], 'pack-00000002:')).remaining, 1);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
