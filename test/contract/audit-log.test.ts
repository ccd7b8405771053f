/**
 * The audit log's contract run against SQLite (adapters/store-sqlite, a fresh `archive.db` per
 * test, tampered with through a second connection that drops the append-only triggers first, as
 * someone with the file would) and the in-memory reference adapter
 * (test/reference/memory-audit-log.ts). Plus what only SQLite has: the triggers themselves.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import '../harness/sqlite-keep.js';
import { createSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { MemoryAuditLog } from '../reference/memory-audit-log.js';
import { runAuditLogContract } from './audit-log.contract.js';
import { MIGRATIONS } from '../../src/adapters/store-sqlite/sqlite-schema.js';
import { verifyAuditLog } from '../../src/app/audit.js';
import { GENESIS_HASH } from '../../src/core/audit/audit-chain.js';

const COLUMN: Record<string, string> = { at: 'at', who: 'who', origin: 'origin', action: 'action', detail: 'detail', prevHash: 'prev_hash', hash: 'hash' };

/** Runs `fn` on a second connection to `file` with the audit log's triggers dropped. */
function tamper(file: string, fn: (db: Database.Database) => void): void {
  const db = new Database(file);
  try {
    db.exec('DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;');
    fn(db);
  } finally {
    db.close();
  }
}

runAuditLogContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-audit-contract-'));
  const file = join(dir, 'archive.db');
  const store = createSqliteStore({ file });
  return {
    log: store.audit,
    async alter(seq, fields) {
      tamper(file, (db) => {
        for (const [k, v] of Object.entries(fields)) db.prepare(`UPDATE audit_log SET ${COLUMN[k]} = ? WHERE seq = ?`).run(v, seq);
      });
    },
    async remove(seq) {
      tamper(file, (db) => db.prepare('DELETE FROM audit_log WHERE seq = ?').run(seq));
    },
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

runAuditLogContract('memory', async () => {
  const log = new MemoryAuditLog();
  return {
    log,
    async alter(seq, fields) {
      const i = log.records.findIndex((r) => r.seq === seq);
      log.records[i] = { ...log.records[i]!, ...fields };
    },
    async remove(seq) {
      log.records.splice(log.records.findIndex((r) => r.seq === seq), 1);
    },
    cleanup: async () => undefined,
  };
});

test('sqlite audit log: the table refuses UPDATE and DELETE, even from a connection of its own', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-audit-triggers-'));
  const file = join(dir, 'archive.db');
  const store = createSqliteStore({ file });
  try {
    await store.audit.append({ at: 1, who: 'ops', origin: 'cli', action: 'archive.search', detail: {} });
    const db = new Database(file);
    try {
      assert.throws(() => db.prepare("UPDATE audit_log SET who = 'x'").run(), /append-only/);
      assert.throws(() => db.prepare('DELETE FROM audit_log').run(), /append-only/);
    } finally {
      db.close();
    }
    assert.equal((await store.audit.list())[0]!.who, 'ops');
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite audit log: readAll pages through more records than one page holds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-audit-pages-'));
  const store = createSqliteStore({ file: join(dir, 'archive.db'), synchronous: 'normal' });
  try {
    for (let i = 0; i < 1005; i++) await store.audit.append({ at: i, who: 'ops', origin: 'cli', action: 'archive.search', detail: { i } });
    let n = 0;
    let last = 0;
    for await (const r of store.audit.readAll()) {
      n++;
      assert.equal(r.seq, last + 1);
      last = r.seq;
    }
    assert.equal(n, 1005);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite: an archive from before the tokens and the audit log, opened read-only, has no tokens and an empty, intact log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-audit-older-'));
  const file = join(dir, 'archive.db');
  try {
    await createSqliteStore({ file }).close();
    const db = new Database(file);
    db.exec(`DROP TABLE api_tokens; DROP TABLE audit_log; DROP TABLE audit_head; PRAGMA user_version = ${MIGRATIONS.length - 2};`);
    db.close();
    const store = createSqliteStore({ file, readonly: true });
    try {
      assert.deepEqual(await store.audit.list(), []);
      assert.equal(await store.audit.head(), null);
      assert.deepEqual(await verifyAuditLog(store.audit), { ok: true, records: 0, head: GENESIS_HASH });
      assert.deepEqual(await store.tokens.listTokens(), []);
      assert.equal(await store.tokens.findTokenByHash('a'.repeat(64)), null);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
