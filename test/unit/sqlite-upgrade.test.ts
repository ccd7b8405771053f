/**
 * Issue 14, item 7: the store's upgrades. A newer archive is refused (`ARCHIVE_TOO_NEW`, writable
 * or read-only); an archive with data that has a migration to take is first copied to
 * `dataDir/backups` (0600, directory 0700), and the copy opens and holds the rows; a fresh
 * archive makes no copy; a copy that cannot be made refuses the migration; the last three copies
 * of each file are kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import '../harness/sqlite-keep.js';
import { MIGRATIONS } from '../../src/adapters/store-sqlite/sqlite-schema.js';
import { createSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { pruneBackups } from '../../src/adapters/store-sqlite/sqlite-upgrade.js';
import { isMailsluiceError } from '../../src/core/errors/index.js';
import type { TakenRecord } from '../../src/core/ports/message-store.js';

function taken(i: number): TakenRecord {
  return {
    connection: 'a',
    sourceKey: `imap:INBOX:7:${i}`,
    mailbox: 'INBOX',
    uidValidity: 7,
    uid: i,
    uidl: null,
    sha256: `a${i}`.padStart(64, '0'),
    size: 10,
    blob: { ref: `pack-00000001:${i}:10`, storedSize: 10 },
    takenAt: 0,
  };
}

function setVersion(file: string, version: number): void {
  const db = new Database(file);
  db.pragma(`user_version = ${version}`);
  db.close();
}

async function withArchive(fn: (dir: string, file: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ms-upgrade-'));
  try {
    const store = createSqliteStore({ file: join(dir, 'archive.db') });
    await store.commitTaken([1, 2, 3].map(taken));
    await store.close();
    await fn(dir, join(dir, 'archive.db'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('an archive a newer mailsluice migrated is refused, writable and read-only, and left as it was', async () => {
  await withArchive(async (_dir, file) => {
    setVersion(file, MIGRATIONS.length + 1);
    for (const readonly of [false, true]) {
      assert.throws(
        () => createSqliteStore({ file, readonly }),
        (e: unknown) =>
          isMailsluiceError(e) && e.code === 'ARCHIVE_TOO_NEW' && e.message.includes(`version ${MIGRATIONS.length + 1}`) && e.message.includes(`up to ${MIGRATIONS.length}`),
      );
    }
    const db = new Database(file, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length + 1);
    db.close();
  });
});

test('a migration of an archive with data is preceded by a private backup that opens and holds the rows; a fresh archive makes none', async () => {
  await withArchive(async (dir, file) => {
    assert.equal(existsSync(join(dir, 'backups')), false, 'a fresh archive makes no backup');
    const old = MIGRATIONS.length - 1; // the last migration is written to run again (IF NOT EXISTS)
    setVersion(file, old);
    const store = createSqliteStore({ file });
    await store.close();
    const backups = readdirSync(join(dir, 'backups'));
    assert.equal(backups.length, 1, backups.join());
    assert.match(backups[0]!, new RegExp(`^archive-v${old}-\\d{8}T\\d{6}Z\\.db$`));
    const path = join(dir, 'backups', backups[0]!);
    assert.equal(statSync(join(dir, 'backups')).mode & 0o777, 0o700);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const copy = new Database(path, { readonly: true });
    try {
      assert.equal(copy.pragma('user_version', { simple: true }), old);
      assert.equal(copy.prepare('SELECT count(*) FROM messages').pluck().get(), 3);
    } finally {
      copy.close();
    }
    const again = createSqliteStore({ file });
    await again.close();
    assert.equal(readdirSync(join(dir, 'backups')).length, 1, 'an archive up to date makes no further backup');
  });
});

test('a backup that cannot be written refuses the migration with STORE_WRITE_FAILED naming the file', async () => {
  await withArchive(async (dir, file) => {
    const old = MIGRATIONS.length - 1;
    setVersion(file, old);
    // A file where the directory should be: no backup can go there, even for root.
    writeFileSync(join(dir, 'backups'), 'not a directory');
    assert.throws(
      () => createSqliteStore({ file }),
      (e: unknown) => isMailsluiceError(e) && e.code === 'STORE_WRITE_FAILED' && e.message.includes(join(dir, 'backups', `archive-v${old}-`)),
    );
    const db = new Database(file, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), old, 'the migration was not run');
    db.close();
  });
});

test('the pre-migration backups are pruned to the last three per file, oldest first; other files in backups/ are left alone', async () => {
  await withArchive(async (dir, file) => {
    const backups = join(dir, 'backups');
    mkdirSync(backups, { mode: 0o700 });
    // Four older upgrades of the archive, one of search.db, and an operator's own file.
    const older = ['archive-v1-20240101T000000Z.db', 'archive-v2-20250101T000000Z.db', 'archive-v2-20250101T000000Z-2.db', 'archive-v3-20260101T000000Z.db'];
    for (const name of [...older, 'search-v1-20240101T000000Z.db', 'archive-before-my-test.db']) writeFileSync(join(backups, name), 'x');
    const old = MIGRATIONS.length - 1;
    setVersion(file, old);
    const store = createSqliteStore({ file });
    await store.close();
    const left = readdirSync(backups).sort();
    const made = left.filter((n) => new RegExp(`^archive-v${old}-\\d{8}T\\d{6}Z\\.db$`).test(n));
    assert.equal(made.length, 1, left.join());
    assert.deepEqual(left, ['archive-before-my-test.db', 'archive-v2-20250101T000000Z-2.db', 'archive-v3-20260101T000000Z.db', made[0]!, 'search-v1-20240101T000000Z.db'].sort());
  });
  assert.deepEqual(pruneBackups(join(tmpdir(), 'no-such-dir', 'archive.db')), [], 'no backups directory: nothing to do');
});
