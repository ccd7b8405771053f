/**
 * ADR 0035: a database in clear is encrypted crash-safely. A child process encrypting a database
 * of a few MB is SIGKILLed at random moments, many times: after each kill the file is whole,
 * either still in clear or encrypted under the key, with every row; then a run to the end
 * encrypts it and no copy is left behind.
 */
import '../harness/sqlite-keep.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { databaseFileState, encryptDatabaseFile } from '../../src/adapters/store-sqlite/index.js';
import { openKeyedDatabase } from '../../src/adapters/store-sqlite/sqlite-cipher.js';
import { REPO_ROOT } from '../harness/cli.js';

const ROWS = 60_000;

function rows(file: string, key: Uint8Array): number {
  const db = openKeyedDatabase(file, key, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

test('a SIGKILL at any moment of encrypting a database leaves it whole, in clear or encrypted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailsluice-cipher-crash-'));
  try {
    const file = join(dir, 'archive.db');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, subject TEXT)');
    const ins = db.prepare('INSERT INTO t (subject) VALUES (?)');
    db.transaction(() => {
      for (let i = 0; i < ROWS; i++) ins.run(`Subject number ${i} ${'x'.repeat(100)}`);
    })();
    db.close();
    const key = randomBytes(32);
    const module = join(REPO_ROOT, 'dist', 'src', 'adapters', 'store-sqlite', 'sqlite-cipher.js');
    const script = `import(${JSON.stringify(module)}).then((m) => m.encryptDatabaseFile(${JSON.stringify(file)}, Buffer.from(${JSON.stringify(key.toString('hex'))}, 'hex')))`;
    const clearCopy = join(dir, 'clear-original.db');
    copyFileSync(file, clearCopy);
    const run = (): { child: ChildProcess; closed: Promise<unknown> } => {
      const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
      return { child, closed: new Promise((r) => child.on('close', r)) };
    };
    // How long a whole run takes here, so the kills fall all along it (and some after its end).
    const t0 = Date.now();
    await run().closed;
    const runMs = Date.now() - t0;
    assert.equal(databaseFileState(file), 'encrypted', 'a run to its end encrypts');
    const seen = new Set<string>();
    for (let round = 0; round < 16; round++) {
      // Each round from the database in clear, with the leftovers of the last kill beside it.
      for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
      copyFileSync(clearCopy, file);
      const { child, closed } = run();
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * runMs * 1.5)));
      child.kill('SIGKILL');
      await closed;
      const state = databaseFileState(file);
      seen.add(state);
      assert.notEqual(state, 'missing', `round ${round}: the database is gone`);
      assert.equal(rows(file, key), ROWS, `round ${round}: every row, ${state}`);
      // The next attempt (the next start) goes on from whatever the kill left.
      if (state === 'clear') {
        encryptDatabaseFile(file, key);
        assert.equal(rows(file, key), ROWS, `round ${round}: encrypted after the kill`);
      }
    }
    for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    copyFileSync(clearCopy, file);
    rmSync(clearCopy);
    encryptDatabaseFile(file, key);
    assert.equal(databaseFileState(file), 'encrypted');
    assert.equal(rows(file, key), ROWS);
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('.encrypting')), [], 'no copy left behind');
    console.log(`whole run ${runMs} ms; states seen after a kill: ${[...seen].join(', ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
