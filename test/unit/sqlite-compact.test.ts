/**
 * sqlite-compact.ts (ADR 0037, the databases' space) on real SQLite files: an older file (no
 * auto-vacuum) converted once and shrunk, in clear and encrypted; a reader on an older snapshot
 * makes the WAL's truncation give up quickly instead of holding the writer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { compactDatabase, databaseFiles } from '../../src/adapters/store-sqlite/sqlite-compact.js';

function filled(file: string, key: Buffer | null): Database.Database {
  const db = new Database(file);
  if (key) {
    db.pragma("cipher = 'sqlcipher'");
    db.pragma('legacy = 4');
    db.pragma(`key = "x'${key.toString('hex')}'"`);
  }
  db.pragma('auto_vacuum = NONE');
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)');
  const ins = db.prepare('INSERT INTO t (body) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < 4000; i++) ins.run(randomBytes(1000));
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  return db;
}

for (const encrypted of [false, true]) {
  test(`an older file ${encrypted ? '(encrypted) ' : ''}is converted once and gives half its pages back; the rows left read`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'compact-'));
    const file = join(dir, 'a.db');
    try {
      const db = filled(file, encrypted ? randomBytes(32) : null);
      const before = statSync(file).size;
      db.exec('DELETE FROM t WHERE id % 2 = 0');
      assert.equal(statSync(file).size, before, 'a delete alone gives nothing back');
      let steps = 0;
      const r = await compactDatabase(db, 'main', () => void steps++);
      assert.equal(r.converted, true);
      assert.equal(r.walTruncated, true);
      assert.equal(db.pragma('auto_vacuum', { simple: true }), 2);
      const after = databaseFiles(file);
      assert.equal(after['a.db-wal'], 0);
      assert.ok(statSync(file).size < before * 0.6, `${before} → ${statSync(file).size}`);
      assert.equal(db.prepare('SELECT count(*) FROM t').pluck().get(), 2000);
      // Incremental from now on: a second delete is freed in steps, without a VACUUM.
      db.exec('DELETE FROM t WHERE id > 2000'); // whole pages: an interleaved delete leaves pages part full, and only empty ones are freed
      const again = await compactDatabase(db, 'main', () => void steps++);
      assert.equal(again.converted, false);
      assert.ok(again.pagesFreed > 200, JSON.stringify(again));
      assert.equal(db.pragma('freelist_count', { simple: true }), 0);
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a reader on an older snapshot: the WAL is left for later within about a second, the writer not held', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'compact-'));
  const file = join(dir, 'a.db');
  try {
    const db = filled(file, null);
    db.pragma('busy_timeout = 10000');
    const reader = new Database(file);
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM t').get(); // its snapshot: before the delete
    db.exec('DELETE FROM t WHERE id % 2 = 0');
    const t0 = Date.now();
    const r = await compactDatabase(db, 'main', () => undefined);
    assert.equal(r.walTruncated, false);
    assert.ok(Date.now() - t0 < 3000, `${Date.now() - t0} ms`);
    assert.equal(db.pragma('busy_timeout', { simple: true }), 10000, 'the busy timeout restored');
    db.exec('INSERT INTO t (body) VALUES (x\'00\')'); // the writer goes on
    reader.exec('COMMIT');
    reader.close();
    assert.equal((await compactDatabase(db, 'main', () => undefined)).walTruncated, true, 'a later checkpoint truncates');
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
