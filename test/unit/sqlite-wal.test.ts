/**
 * The switch to WAL while another process holds the write lock of the same new file: SQLite
 * answers SQLITE_BUSY at once (no busy handler) to a reader that wants to write, so the switch is
 * tried again until the lock is free (the sqlite-store test's flake in CI).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import Database from 'better-sqlite3';
import '../harness/sqlite-keep.js';
import { enterWalMode } from '../../src/adapters/sqlite-node/sqlite-wal.js';
import { pragma } from '../../src/adapters/sqlite-node/sqlite-retain.js';

/** A process holding `BEGIN IMMEDIATE` on `file` for `ms`; resolves once it holds it. */
async function holdWriteLock(file: string, ms: number): Promise<{ exited: Promise<unknown> }> {
  const code = `const D = require('better-sqlite3'); const db = new D(process.argv[1]);
db.exec('BEGIN IMMEDIATE'); process.stdout.write('held\\n');
setTimeout(() => { db.exec('COMMIT'); db.close(); }, ${ms});`;
  const child = spawn(process.execPath, ['-e', code, file], { stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() });
  const exited = once(child, 'exit');
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  assert.equal(chunk.toString().trim(), 'held');
  return { exited };
}

test('a new database switches to WAL once another process lets go of its write lock, not SQLITE_BUSY at once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-wal-'));
  try {
    const file = join(dir, 'x.db');
    const holder = await holdWriteLock(file, 300);
    const db = new Database(file);
    try {
      pragma(db, 'busy_timeout = 10000');
      // What the store did before: the switch needs the write lock from inside its read, so it fails at once.
      assert.throws(() => pragma(db, 'journal_mode = WAL'), (err: { code?: string }) => err.code === 'SQLITE_BUSY');
      const start = Date.now();
      enterWalMode(db);
      assert.ok(Date.now() - start >= 100, 'it waited for the holder');
      assert.equal((pragma(db, 'journal_mode')[0] as { journal_mode: string }).journal_mode, 'wal');
    } finally {
      db.close();
      await holder.exited;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
