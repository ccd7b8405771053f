/**
 * The pieces behind ADR 0014, in one process: the data directory lock, an archive read while a
 * first start is still creating it, and the tightening of a data directory an older version left
 * readable by others. The two-process behaviour (SIGKILL, pids, modes under umask 022) is in
 * test/e2e/data-dir.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../harness/sqlite-keep.js';
import { createSqliteStore, lockDataDir, LOCK_HOLDER_FILE } from '../../src/adapters/store-sqlite/index.js';
import { tightenTree } from '../../src/adapters/fs-node/private-files.js';
import { isMailsluiceError } from '../../src/core/errors/index.js';

function withDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mailsluice-datadir-'));
  return Promise.resolve(fn(dir)).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test('the lock: a second holder is refused at once, naming the first; released, it can be taken again', () =>
  withDir((dir) => {
    const first = lockDataDir(dir, 'start');
    const holder = JSON.parse(readFileSync(join(dir, LOCK_HOLDER_FILE), 'utf8')) as { pid: number; command: string };
    assert.equal(holder.pid, process.pid);
    assert.equal(holder.command, 'start');
    const t0 = Date.now();
    assert.throws(
      () => lockDataDir(dir, 'drain'),
      (e: unknown) => isMailsluiceError(e, 'DATA_DIR_LOCKED') && e.retryable === false && e.message.includes(`(pid ${process.pid}, "start" since `),
    );
    assert.ok(Date.now() - t0 < 1000, 'refused without waiting');
    first.release();
    first.release(); // idempotent
    const second = lockDataDir(dir, 'drain');
    assert.equal((JSON.parse(readFileSync(join(dir, LOCK_HOLDER_FILE), 'utf8')) as { command: string }).command, 'drain');
    second.release();
    assert.throws(() => readFileSync(join(dir, LOCK_HOLDER_FILE)), /ENOENT/, 'a release removes its own lock.pid');
    assert.equal(statSync(join(dir, 'lock.db')).mode & 0o777, 0o600);
  }));

test('an archive.db a first start has only just created (empty) is not an archive to read yet: ARCHIVE_NOT_FOUND', () =>
  withDir((dir) => {
    const file = join(dir, 'archive.db');
    closeSync(openSync(file, 'w', 0o600));
    assert.throws(() => createSqliteStore({ file, readonly: true }), (e: unknown) => isMailsluiceError(e, 'ARCHIVE_NOT_FOUND'));
  }));

test('tightenTree takes group and other permissions away below a directory, leaving symbolic links alone', () =>
  withDir(async (dir) => {
    const data = join(dir, 'data');
    mkdirSync(join(data, 'blobs'), { recursive: true });
    writeFileSync(join(data, 'archive.db'), '');
    writeFileSync(join(data, 'blobs', 'pack-1.mspack'), '');
    writeFileSync(join(dir, 'outside'), '');
    chmodSync(join(dir, 'outside'), 0o644);
    symlinkSync(join(dir, 'outside'), join(data, 'link'));
    chmodSync(data, 0o755);
    chmodSync(join(data, 'blobs'), 0o775);
    chmodSync(join(data, 'archive.db'), 0o644);
    chmodSync(join(data, 'blobs', 'pack-1.mspack'), 0o600);
    const changed = await tightenTree(data);
    assert.deepEqual(
      changed.map((c) => [c.path.slice(dir.length), c.from.toString(8)]).sort(),
      [['/data', '755'], ['/data/archive.db', '644'], ['/data/blobs', '775']].sort(),
    );
    assert.equal(statSync(data).mode & 0o777, 0o700);
    assert.equal(statSync(join(data, 'blobs')).mode & 0o777, 0o700);
    assert.equal(statSync(join(data, 'archive.db')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'outside')).mode & 0o777, 0o644, 'a link is not followed');
    assert.deepEqual(await tightenTree(data), [], 'nothing left to change');
  }));

test('under umask 022, without the umask belt of start and drain, the store makes archive.db, search.db and their -wal/-shm 0600', () =>
  withDir(async (dir) => {
    const previous = process.umask(0o022);
    try {
      const store = createSqliteStore({ file: join(dir, 'data', 'archive.db') });
      try {
        const modes = Object.fromEntries(
          ['data', 'data/archive.db', 'data/archive.db-wal', 'data/archive.db-shm', 'data/search.db'].map((p) => [p, (statSync(join(dir, p)).mode & 0o777).toString(8)]),
        );
        assert.deepEqual(modes, { data: '700', 'data/archive.db': '600', 'data/archive.db-wal': '600', 'data/archive.db-shm': '600', 'data/search.db': '600' });
      } finally {
        await store.close();
      }
    } finally {
      process.umask(previous);
    }
  }));
