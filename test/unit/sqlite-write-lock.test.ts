/**
 * A store write takes archive.db's write lock and not search.db's: the full-text writer thread
 * writing search.db (attached to every store connection for searches) never holds up a commit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import '../harness/sqlite-keep.js';
import { immediateOnMain } from '../../src/adapters/sqlite-node/sqlite-write-lock.js';

test('immediateOnMain writes while another connection holds the attached database, and holds the main one from its start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-lock-'));
  const open = (file: string): Database.Database => {
    const db = new Database(join(dir, file));
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 0');
    return db;
  };
  const archive = open('archive.db');
  const search = open('search.db');
  const other = open('archive.db');
  try {
    archive.exec('CREATE TABLE messages (id INTEGER PRIMARY KEY, x TEXT)');
    search.exec('CREATE TABLE rows (y TEXT)');
    archive.prepare('ATTACH DATABASE ? AS s').run(join(dir, 'search.db'));
    search.exec('BEGIN IMMEDIATE'); // the index writer in the middle of its transaction
    // What the store did before: BEGIN IMMEDIATE wants every attached database's lock too.
    assert.throws(() => archive.transaction(() => archive.prepare("INSERT INTO messages (x) VALUES ('a')").run()).immediate(), (e: { code?: string }) => e.code === 'SQLITE_BUSY');
    immediateOnMain(archive, () => {
      // Held from the first statement: another writer of archive.db waits, as under BEGIN IMMEDIATE.
      assert.throws(() => other.exec('BEGIN IMMEDIATE'), (e: { code?: string }) => e.code === 'SQLITE_BUSY');
      archive.prepare("INSERT INTO messages (x) VALUES ('b')").run();
    });
    search.exec('COMMIT');
    assert.deepEqual(archive.prepare('SELECT x FROM messages').pluck().all(), ['b']);
  } finally {
    for (const db of [archive, search, other]) db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
