/**
 * ADR 0032 on a real pack store and SQLite store: the blob extents a metadata snapshot needs
 * (staged refs through their redirect once compacted), and a backup taken before and after a
 * compaction restores an archive whose every blob reads back byte-identical.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backupExtents, parseFsBlobRef } from '../../src/adapters/blob-fs/index.js';
import { blobRefsOf } from '../../src/adapters/store-sqlite/index.js';
import { backupArchive } from '../../src/app/backup.js';
import { restoreArchive } from '../../src/app/restore.js';
import { compact, markParsed, openArchive, seed, verifyAll } from './compactor-fixture.js';

/** Every item of `it` (Array.fromAsync is Node 22's). */
async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test('extents reach every ref; a compacted staging pack is needed through its redirect; backups before and after compaction restore every blob', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mailsluice-backup-extents-'));
  const a = await openArchive(join(dir, 'data'));
  try {
    const expected = await seed(a, 12);
    await markParsed(a);
    const blobs = join(dir, 'data', 'blobs');
    const refs = await collect(blobRefsOf(join(dir, 'data', 'archive.db')));
    assert.equal(refs.length, 12);
    // Read a page at a time: pages of 1, 5 or 12 rows give the same refs, each once.
    for (const pageRows of [1, 5, 12]) assert.deepEqual(await collect(blobRefsOf(join(dir, 'data', 'archive.db'), null, pageRows)), refs, `pages of ${pageRows}`);
    assert.equal(new Set(refs).size, 12, 'every ref once');
    const before = await backupExtents(blobs, refs);
    for (const ref of refs) {
      const r = parseFsBlobRef(ref);
      const name = `${r.staging ? 'stage' : 'pack'}-${String(r.packId).padStart(8, '0')}.mspack`;
      assert.ok((before.get(name) ?? 0) >= r.offset + 64 + r.storedSize, `${ref} within ${name}`);
    }
    assert.ok([...before.keys()].some((n) => n.startsWith('stage-')), 'large bodies staged');
    for (const [name, length] of before) assert.ok(length <= (await stat(join(blobs, name))).size, name);

    const out = join(dir, 'backup');
    const one = await backupArchive(join(dir, 'data'), out);
    assert.equal(one.generation, 1);
    await compact(a);
    const after = await backupExtents(blobs, refs);
    assert.ok(![...after.keys()].some((n) => n.startsWith('stage-') && n.endsWith('.mspack')), 'no staging pack needed once compacted');
    const redirect = [...after.keys()].find((n) => n.endsWith('.redirect'));
    assert.ok(redirect, 'the redirect is needed');
    assert.equal(after.get(redirect), (await stat(join(blobs, redirect))).size, 'whole');
    const two = await backupArchive(join(dir, 'data'), out);
    assert.equal(two.generation, 2);
    assert.ok(two.shared.kept >= 1, JSON.stringify(two.shared));
    assert.ok(!(await readdir(join(out, 'shared', 'blobs'))).some((n) => n.startsWith('stage-') && n.endsWith('.mspack')), 'the staging pack is dropped from the backup');

    await restoreArchive(out, join(dir, 'restored'));
    await assertRestored(join(dir, 'restored'), expected);
  } finally {
    await a.close();
    await rm(dir, { recursive: true, force: true });
  }
});

async function assertRestored(dataDir: string, expected: Map<string, Buffer>): Promise<void> {
  const r = await openArchive(dataDir);
  try {
    assert.deepEqual(await verifyAll(r, expected), []);
  } finally {
    await r.close();
  }
}

test('a staging pack compacted between working out the blob files and copying them is found again through its redirect', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mailsluice-backup-race-'));
  const a = await openArchive(join(dir, 'data'));
  try {
    const expected = await seed(a, 12);
    await markParsed(a);
    const rounds: number[] = [];
    const r = await backupArchive(join(dir, 'data'), join(dir, 'backup'), undefined, {
      afterBlobPlan: async (round) => {
        rounds.push(round);
        if (round === 1) assert.equal((await compact(a)).containersDeleted, 1, 'the staging pack is deleted under the copy');
      },
    });
    assert.deepEqual(rounds, [1, 2], 'planned again once');
    const held = (await readdir(join(dir, 'backup', 'shared', 'blobs'))).sort();
    assert.ok(held.some((n) => n.endsWith('.redirect')) && !held.some((n) => n.startsWith('stage-') && n.endsWith('.mspack')), held.join(' '));
    assert.equal(r.files, held.length + 2, 'the two databases and the blob files');
    await restoreArchive(join(dir, 'backup'), join(dir, 'restored'));
    await assertRestored(join(dir, 'restored'), expected);
  } finally {
    await a.close();
    await rm(dir, { recursive: true, force: true });
  }
});
