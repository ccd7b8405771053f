/**
 * The full-text index writer: a worker thread owning the connection to `search.db`. It takes
 * batches of rows, writes each batch in one transaction and answers when it is durable.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { SEARCH_MIGRATIONS } from './sqlite-schema.js';
import { pragma, retain } from '../sqlite-node/sqlite-retain.js';
import { migrateWithBackup } from './sqlite-upgrade.js';
import { ensurePrivateFileSync } from '../fs-node/private-files.js';
import { openKeyedDatabase, type DatabaseKey } from './sqlite-cipher.js';

/** One row of the index: rowid = messages.id. */
export type FtsRow = [rowid: number, subject: string, addresses: string, body: string, attachments: string];
/** A request to the writer. */
export interface FtsRequest {
  id: number;
  rows: FtsRow[];
}
/** The writer's answer. */
export interface FtsResponse {
  id: number;
  error?: { code: string; message: string };
}

/** Opens (and migrates) the search database, with the databases' key (ADR 0035); shared with the store's read path. */
export function openSearchDb(file: string, key: DatabaseKey): Database.Database {
  ensurePrivateFileSync(file); // 0600, as archive.db (fs-node/private-files.ts)
  const db = openKeyedDatabase(file, key);
  pragma(db, 'busy_timeout = 10000');
  pragma(db, 'journal_mode = WAL');
  // A row written here is only marked parsed in archive.db after this commit returned; FULL
  // keeps that order true across a power cut.
  pragma(db, 'synchronous = FULL');
  try {
    migrateWithBackup(db, file, SEARCH_MIGRATIONS);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

if (parentPort && (workerData as { ftsWriter?: boolean } | undefined)?.ftsWriter) {
  const port = parentPort;
  const data = workerData as { file: string; key: DatabaseKey };
  const db = openSearchDb(data.file, data.key);
  // REPLACE: a message parsed again after a crash (marked parsed only after this commit) must
  // not fail on its own earlier row.
  const ins = retain(db.prepare('INSERT OR REPLACE INTO messages_fts (rowid, subject, addresses, body, attachments) VALUES (?, ?, ?, ?, ?)'));
  const write = db.transaction((rows: FtsRow[]) => {
    for (const r of rows) ins.run(...r);
  });
  port.on('message', (req: FtsRequest | 'close') => {
    if (req === 'close') {
      db.close();
      port.close();
      return;
    }
    try {
      write(req.rows);
      port.postMessage({ id: req.id } satisfies FtsResponse);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      port.postMessage({ id: req.id, error: { code: e.code ?? 'ERROR', message: e.message ?? String(err) } } satisfies FtsResponse);
    }
  });
}
