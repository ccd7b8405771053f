/**
 * The backup's decisions (issue 16, item 2; ADR 0032): what a backup holds and what it leaves
 * out, what an incremental backup copies again, and what `restore` accepts as a manifest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entryPolicy, manifestText, parseManifest, planSharedCopy, staleGenerations, storedPath, type BackupManifest, type ManifestEntry } from '../../src/core/backup/backup-plan.js';

const HASH = 'a'.repeat(64);

test('the databases, packs, redirects, audit archive, secret store and alert state are in; keys, logs, journals, lock and socket are out', () => {
  const kind = (p: string): string => {
    const r = entryPolicy(p);
    return r.include ? r.kind : 'out';
  };
  assert.deepEqual(
    ['archive.db', 'search.db', 'other.db', 'blobs/pack-00000001.mspack', 'blobs/stage-00000002.mspack', 'blobs/stage-00000002.redirect', 'audit-archive/audit-1-50000.jsonl', 'secrets.enc', 'alert-state.json'].map(kind),
    ['database', 'database', 'database', 'shared', 'shared', 'shared', 'shared', 'file', 'file'],
  );
  for (const p of ['secrets.key', 'probe.key', 'api-url.key', 'lock.db', 'lock.pid', 'control.sock', 'archive.db-wal', 'archive.db-shm', 'logs/journal.log', 'backups/archive-v3-1.db', 'blobs/stage-00000002.redirect.tmp', 'blobs/notes.txt', 'api-url.key.1.x.tmp', 'stray.txt']) {
    assert.equal(entryPolicy(p).include, false, p);
  }
});

test('a shared file is kept at the same length, grown by its tail, copied whole when shorter or new', () => {
  const prev: ManifestEntry = { path: 'blobs/pack-00000001.mspack', kind: 'shared', size: 1000, sha256: HASH, stored: 'shared/blobs/pack-00000001.mspack' };
  assert.deepEqual(planSharedCopy(prev, 1000), { action: 'keep' });
  assert.deepEqual(planSharedCopy(prev, 1500), { action: 'append', from: 1000, prefixSha256: HASH });
  assert.deepEqual(planSharedCopy(prev, 900), { action: 'copy' });
  assert.deepEqual(planSharedCopy(undefined, 900), { action: 'copy' });
  assert.equal(storedPath('archive.db', 'database', 12), 'gen-000012/archive.db');
  assert.equal(storedPath(prev.path, 'shared', 12), prev.stored);
  assert.deepEqual(staleGenerations(['gen-000001', 'gen-000002', 'shared', 'manifest.json'], 2), ['gen-000001']);
});

test('a manifest round-trips; one with an unsafe path, a bad hash, a duplicate or no archive.db is refused', () => {
  const m: BackupManifest = {
    format: 1,
    createdAt: '2026-12-06T22:00:00.000Z',
    generation: 2,
    entries: [
      { path: 'search.db', kind: 'database', size: 10, sha256: HASH, stored: 'gen-000002/search.db' },
      { path: 'archive.db', kind: 'database', size: 10, sha256: HASH, stored: 'gen-000002/archive.db' },
    ],
  };
  const back = parseManifest(manifestText(m));
  assert.ok(typeof back !== 'string');
  assert.deepEqual(back.entries.map((e) => e.path), ['archive.db', 'search.db'], 'sorted');
  const bad = (entries: unknown[]): string => parseManifest(JSON.stringify({ ...m, entries })) as string;
  const a = m.entries[1]!;
  assert.match(bad([{ ...a, path: '../etc/passwd' }]), /unsafe/);
  assert.match(bad([{ ...a, stored: '/etc/passwd' }]), /unsafe/);
  assert.match(bad([{ ...a, stored: 'gen-000002/../../x' }]), /unsafe/);
  assert.match(bad([{ ...a, sha256: 'xyz' }]), /SHA-256/);
  assert.match(bad([a, a]), /twice/);
  assert.match(bad([m.entries[0]]), /no archive\.db/);
  assert.match(parseManifest('{') as string, /not JSON/);
  assert.match(parseManifest(JSON.stringify({ ...m, format: 2 })) as string, /format 2/);
});
