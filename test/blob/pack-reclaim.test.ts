/**
 * Reclaiming dead space in packs (ADR 0036) against the real pack-file blob store and the real
 * SQLite store: an archive in several packs (some rows read through staging redirects) loses half
 * of its messages to a purge (simulated here as h/retention's purge does it), and a reclaim run
 * shrinks the packs by about that share, every live message reads back byte-identical and verify
 * is clean; the same encrypted; a reader holding a ref from before the run still reads; packs a
 * writer holds or that were just written are left alone; pack ids are never used twice; and
 * `keys encrypt-existing`'s run leaves no plaintext in any blob file.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ArchiveKeyring, createFsBlobStore, FsPackRewriter } from '../../src/adapters/blob-fs/index.js';
import { createSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { isMailsluiceError } from '../../src/core/errors/index.js';
import { runReclaim } from '../../src/app/reclaim-space.js';
import { openArchive, realClock, seed, silent, verifyAll, type Archive } from './compactor-fixture.js';
import { blobBytes, filesHolding, problemsBesidesPurged, purgeHalf, reclaim, seedPacks, verifyReport } from './reclaim-fixture.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mailsluice-reclaim-test-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function shrinksByTheDeadShare(a: Archive): Promise<void> {
  const all = await seedPacks(a, 4, 12);
  const { live, purged } = purgeHalf(a, all);
  assert.ok(purged.size >= 20 && live.size >= 20, `${purged.size} purged, ${live.size} live`);
  const before = await blobBytes(a);
  // Before the reclaim the purged records are still there: verify sees them as orphans only.
  const pending = await verifyReport(a);
  assert.ok(pending.problems.length > 0, 'the purged bytes are still in the packs');
  assert.deepEqual(problemsBesidesPurged(pending, purged), []);
  const totals = await reclaim(a);
  const after = await blobBytes(a);
  const deadShare = [...purged].reduce((n, s) => n + all.get(s)!.length, 0) / [...all.values()].reduce((n, b) => n + b.length, 0);
  assert.ok(totals.packsRewritten >= 4, `rewrote ${totals.packsRewritten}`);
  assert.equal(totals.bytesBefore, before);
  assert.equal(totals.bytesAfter, after);
  // The packs shrink by about the dead share of the raw bytes (compression differs a little per message).
  const shrunk = 1 - after / before;
  assert.ok(Math.abs(shrunk - deadShare) < 0.15, `shrunk by ${(shrunk * 100).toFixed(1)} %, dead share ${(deadShare * 100).toFixed(1)} %`);
  assert.deepEqual(await verifyAll(a, live), []);
  const report = await verifyReport(a);
  assert.deepEqual(report.problems, []);
  assert.equal(report.ok, true);
  // No row reads through a staging redirect any more, and no redirect is left.
  assert.deepEqual((await readdir(join(a.dir, 'blobs'))).filter((n) => n.startsWith('stage-')), []);
  // A second run finds nothing to do.
  const again = await reclaim(a);
  assert.equal(again.packsRewritten + again.packsDeleted, 0);
  // Everything this created is owner-only.
  for (const f of await readdir(join(a.dir, 'blobs'))) assert.equal((await stat(join(a.dir, 'blobs', f))).mode & 0o777, 0o600, f);
}

test('reclaim: after half is purged the packs shrink by about half, every live message reads byte-identical, verify is clean', () =>
  withDir(async (dir) => {
    const a = await openArchive(dir);
    try {
      await shrinksByTheDeadShare(a);
    } finally {
      await a.close();
    }
  }));

test('reclaim: the same with encryption on (encrypted records copied verbatim, still readable after a restart with the key)', () =>
  withDir(async (dir) => {
    const key = randomBytes(32);
    const a = await openArchive(dir, await ArchiveKeyring.open(dir, key));
    try {
      await shrinksByTheDeadShare(a);
    } finally {
      await a.close();
    }
    const b = await openArchive(dir, await ArchiveKeyring.open(dir, key));
    try {
      assert.equal((await verifyReport(b)).ok, true);
    } finally {
      await b.close();
    }
  }));

test('reclaim: a reader holding a ref from before the run reads through the catalogue (here, and in another store on the directory)', () =>
  withDir(async (dir) => {
    const a = await openArchive(dir);
    try {
      const all = await seedPacks(a, 2, 10);
      const { live } = purgeHalf(a, all);
      const held = (a.store.connection().db.prepare('SELECT sha256, ref, stored_size AS storedSize FROM blobs').all() as Array<{ sha256: string; ref: string; storedSize: number }>);
      const other = await createFsBlobStore({ directory: join(dir, 'blobs') });
      other.setRelocator((sha) => a.store.blobRefs.refOf(sha));
      const bare = await createFsBlobStore({ directory: join(dir, 'blobs') });
      a.blobs.setRelocator((sha) => a.store.blobRefs.refOf(sha));
      await reclaim(a);
      let moved = 0;
      for (const h of held) {
        const loc = { ref: h.ref, storedSize: h.storedSize };
        if (a.store.blobRefs.refOf(h.sha256) !== h.ref) moved++;
        assert.ok((await a.blobs.read(loc, h.sha256)).equals(live.get(h.sha256)!));
        assert.ok((await other.read(loc, h.sha256)).equals(live.get(h.sha256)!));
        const chunks: Buffer[] = [];
        for await (const c of other.stream(loc, h.sha256)) chunks.push(Buffer.from(c));
        assert.ok(Buffer.concat(chunks).equals(live.get(h.sha256)!));
      }
      assert.ok(moved > 0);
      // Without the catalogue to ask, a stale ref into a deleted pack is not found (the test can fail).
      const stale = held.find((h) => h.ref.startsWith('pack-') && a.store.blobRefs.refOf(h.sha256) !== h.ref)!;
      await assert.rejects(bare.read({ ref: stale.ref, storedSize: stale.storedSize }, stale.sha256), (e) => isMailsluiceError(e, 'STORE_NOT_FOUND'));
      await other.close();
      await bare.close();
    } finally {
      await a.close();
    }
  }));

test('reclaim: a pack a writer still appends to and a pack written within the quiet time are left alone; ids are never used again', () =>
  withDir(async (dir) => {
    const a = await openArchive(dir);
    try {
      const all = await seedPacks(a, 2, 8);
      const { live } = purgeHalf(a, all);
      // An open writer with a put in its pack (not yet committed: only the writer knows of it).
      const w = await a.blobs.openWriter();
      await w.put((async function* () { yield Buffer.from('From: a@b\r\n\r\nheld\r\n'); })(), () => false);
      const writing = [...a.blobs.writingPacks()];
      assert.equal(writing.length, 1);
      const deps = { catalogue: a.store.blobRefs, rewriter: new FsPackRewriter(a.blobs, silent), clock: realClock, logger: silent, redirectKeepMs: 0 };
      // Default quiet time: everything was just written, nothing is touched.
      const quiet = await runReclaim(deps, 'space');
      assert.equal(quiet.packsRewritten + quiet.packsDeleted, 0);
      const t = await runReclaim({ ...deps, quietMs: 0 }, 'space');
      assert.ok(t.packsRewritten > 0);
      assert.ok((await readdir(join(dir, 'blobs'))).includes(`pack-${String(writing[0]).padStart(8, '0')}.mspack`), 'the writer\'s pack is still there');
      await w.close();
      assert.deepEqual(await verifyAll(a, live), []);
      // The highest id was a deleted pack's or not: a store opened now never makes a pack with an id used before.
      const names = await readdir(join(dir, 'blobs'));
      const highest = Math.max(...names.map((n) => Number(/^(?:pack|stage)-(\d+)/.exec(n)?.[1] ?? 0)));
      const kept = Number(await readFile(join(dir, 'blobs', 'next-pack-id'), 'utf8'));
      assert.ok(kept > highest, `next-pack-id ${kept}, highest file ${highest}`);
      const fresh = await openArchive(dir);
      const more = await seed(fresh, 1, 1000);
      const ref = [...(fresh.store.connection().db.prepare('SELECT ref FROM blobs WHERE sha256 = ?').pluck().all([...more.keys()][0]) as string[])][0]!;
      assert.ok(Number(/^(?:pack|stage)-(\d+)/.exec(ref)![1]) >= kept, `${ref} reuses an id below ${kept}`);
      await fresh.close();
    } finally {
      await a.close();
    }
  }));

test('reclaim: encrypt-existing leaves no subject, body or attachment in clear in any blob file, and everything reads byte-identical', () =>
  withDir(async (dir) => {
    // Stored without compression, so the plaintext is greppable before (the test can fail).
    const plain = await createFsBlobStore({ directory: join(dir, 'blobs'), compression: { codec: 'none' } });
    const store = createSqliteStore({ file: join(dir, 'archive.db') });
    const a: Archive = { dir, blobs: plain, store, close: async () => { await plain.close(); await store.close(); } };
    const all = await seedPacks(a, 3, 9);
    const { live } = purgeHalf(a, all);
    await a.close();
    const needles = [...all.values()].flatMap((raw) => {
      const text = raw.toString('latin1');
      const subject = /Subject: [^\r]+/.exec(text)![0];
      return [subject, raw.subarray(Math.floor(raw.length / 2), Math.floor(raw.length / 2) + 48).toString('latin1')];
    });
    assert.ok((await filesHolding(join(dir, 'blobs'), needles)).length > 0, 'plaintext is in the packs before');
    const key = randomBytes(32);
    const b = await openArchive(dir, await ArchiveKeyring.open(dir, key));
    try {
      const t = await reclaim(b, 'encrypt');
      assert.ok(t.recordsEncrypted >= live.size - 1, `${t.recordsEncrypted} encrypted of ${live.size}`);
      assert.deepEqual(await filesHolding(join(dir, 'blobs'), needles), []);
      assert.deepEqual(await verifyAll(b, live), []);
      assert.equal((await verifyReport(b)).ok, true);
      // Idempotent: nothing left in clear, nothing rewritten.
      const again = await reclaim(b, 'encrypt');
      assert.equal(again.packsRewritten, 0);
    } finally {
      await b.close();
    }
  }));

test('reclaim: runs beside a drain writing and committing and beside readers, and loses nothing of either', () =>
  withDir(async (dir) => {
    const a = await openArchive(dir);
    try {
      a.blobs.setRelocator((sha) => a.store.blobRefs.refOf(sha));
      const all = await seedPacks(a, 3, 10);
      const { live } = purgeHalf(a, all);
      const expected = new Map(live);
      let stop = false;
      let reads = 0;
      const drain = (async () => {
        // Five drain cycles, each a writer of its own: put, sync, commit, close.
        for (let round = 0; round < 5; round++) for (const [k, v] of await seed(a, 4, 500 + round * 4)) expected.set(k, v);
      })();
      const reader = (async () => {
        while (!stop) {
          // Rows read now, blobs read a moment later: some refs go stale in between.
          const rows = [];
          for await (const item of a.store.listForExport()) rows.push(item);
          for (const item of rows) {
            const got = await a.blobs.read(item.blob, item.sha256);
            assert.ok(got.equals(expected.get(item.sha256) ?? all.get(item.sha256)!), `${item.sha256} read back as it was put`);
            reads++;
          }
        }
      })();
      let rewritten = 0;
      for (let i = 0; i < 4; i++) rewritten += (await reclaim(a)).packsRewritten;
      await drain;
      stop = true;
      await reader;
      assert.ok(rewritten > 0 && reads > 0, `${rewritten} packs rewritten, ${reads} reads`);
      assert.deepEqual(await verifyAll(a, expected), []);
    } finally {
      await a.close();
    }
  }));
