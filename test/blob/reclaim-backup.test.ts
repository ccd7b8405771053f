/**
 * Reclaiming pack space beside backups (ADR 0032, 0034): a backup holds the packs (`reclaim.lock`
 * shared) from its metadata snapshot to its last pack copy, so a reclaim run waits for it (or
 * gives up for now); after a reclaim the next backup carries none of the deleted packs (they leave
 * the backup directory too), and its restore reads every live message byte-identical with
 * `verify` clean.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FsPackRewriter } from '../../src/adapters/blob-fs/index.js';
import { takeReclaimLock } from '../../src/adapters/store-sqlite/index.js';
import { backupArchive } from '../../src/app/backup.js';
import { restoreArchive } from '../../src/app/restore.js';
import { reclaimLocked } from '../../src/app/reclaim-space.js';
import { openArchive, realClock, silent, verifyAll } from './compactor-fixture.js';
import { purgeHalf, seedPacks, verifyReport } from './reclaim-fixture.js';

test('reclaim and backup: a backup holds the packs; the next backup after a reclaim carries no deleted pack, and restores clean', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mailsluice-reclaim-backup-'));
  const dir = join(root, 'data');
  const out = join(root, 'backup');
  try {
    const a = await openArchive(dir);
    const all = await seedPacks(a, 3, 8);
    const { live } = purgeHalf(a, all);
    const deps = { catalogue: a.store.blobRefs, rewriter: new FsPackRewriter(a.blobs, silent), clock: realClock, logger: silent, quietMs: 0, redirectKeepMs: 0 };

    // While a backup copies the packs, a reclaim run cannot start (it gives up after its wait).
    let during: unknown = 'not run';
    await backupArchive(dir, out, realClock, {
      afterBlobPlan: async () => {
        during = await reclaimLocked(dir, deps, 'space', 300);
      },
    });
    assert.equal(during, null, 'no reclaim while the backup holds the packs');
    const first = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as { entries: Array<{ path: string }> };
    const packsBefore = first.entries.map((e) => e.path).filter((p) => p.startsWith('blobs/pack-'));

    // Nor beside a verify (the same lock, shared); once it is let go, the run goes ahead.
    const verifyHold = await takeReclaimLock(dir, 'shared', 0);
    assert.ok(verifyHold);
    assert.equal(await reclaimLocked(dir, deps, 'space', 200), null);
    verifyHold.release();
    const totals = await reclaimLocked(dir, deps, 'space', 200);
    assert.ok(totals && totals.packsRewritten > 0);
    const onDisk = new Set(await readdir(join(dir, 'blobs')));
    const deleted = packsBefore.filter((p) => !onDisk.has(p.slice('blobs/'.length)));
    assert.ok(deleted.length > 0, 'the reclaim deleted packs the first backup holds');

    const second = await backupArchive(dir, out, realClock);
    assert.equal(second.generation, 2);
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as { entries: Array<{ path: string }> };
    const named = new Set(manifest.entries.map((e) => e.path));
    for (const p of deleted) assert.ok(!named.has(p), `${p} is not in the new backup`);
    const shared = new Set(await readdir(join(out, 'shared', 'blobs')));
    for (const p of deleted) assert.ok(!shared.has(p.slice('blobs/'.length)), `${p} left the backup directory`);
    assert.ok(!named.has('reclaim.lock') && !named.has('blobs/next-pack-id'), 'the lock and the id file are not the archive');
    await a.close();

    const restored = join(root, 'restored');
    await restoreArchive(out, restored, realClock);
    const b = await openArchive(restored);
    try {
      assert.deepEqual(await verifyAll(b, live), []);
      assert.deepEqual((await verifyReport(b)).problems, []);
    } finally {
      await b.close();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
