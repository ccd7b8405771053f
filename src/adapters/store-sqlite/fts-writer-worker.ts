/**
 * The full-text index writer: a worker thread owning the connection to `search.db`. It takes
 * batches of rows, writes each batch in one transaction and answers when it is durable.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { SEARCH_MIGRATIONS } from './sqlite-schema.js';
import { pragma, retain } from '../sqlite-node/sqlite-retain.js';
import { enterWalMode } from '../sqlite-node/sqlite-wal.js';
import { migrateWithBackup } from './sqlite-upgrade.js';
import { ensurePrivateFileSync } from '../fs-node/private-files.js';
import { openKeyedDatabase, type DatabaseKey } from './sqlite-cipher.js';
import { compactDatabase, preferIncrementalVacuum, type CompactResult } from './sqlite-compact.js';
import { SEARCH_TABLE, type MetaWrite } from './fts-version.js';
import { ATTACHMENT_MARK, withAddressTokens } from '../../core/search/index-terms.js';
import { stemText } from '../stem-node/word-forms.js';

/** One row of the index: rowid = messages.id; the `stems` column is made here, on this thread (stem-node/word-forms.ts). */
export type FtsRow = [rowid: number, subject: string, sender: string, to: string, cc: string, bcc: string, body: string, attachments: string, hasAttachments: 0 | 1];
/** A request to the writer. */
export interface FtsRequest {
  id: number;
  rows: FtsRow[];
  /** Rowids whose rows go (purged messages, docs/retention.md); removing a missing one is a no-op. */
  remove?: number[];
  /** `search_meta` written in the rows' transaction (a re-index's progress with the rows it covers, fts-version.ts). */
  meta?: MetaWrite[];
  /** After the rows: merge the index's segments (dropping deleted rows' tombstones) and give freed pages back (sqlite-compact.ts). */
  compact?: boolean;
}
/** The writer's answer. */
export interface FtsResponse {
  id: number;
  /** What the compaction did, when asked. */
  compact?: CompactResult;
  error?: { code: string; message: string };
}

/**
 * Removes from `search.db` the full-text rows of the ids in `archive.db`'s `purged_search` that
 * no message holds any more (a purge's removal a crash interrupted), and empties the list; run
 * when the store is opened to write, before anything can take an id again. Returns how many ids
 * were settled.
 */
export function sweepPurgedSearch(archive: Database.Database, searchFile: string, key: DatabaseKey): number {
  if (retain(archive.prepare('SELECT id FROM purged_search LIMIT 1')).pluck().get() === undefined) return 0;
  const ids = retain(archive.prepare('SELECT id FROM purged_search WHERE id NOT IN (SELECT id FROM messages)')).pluck().all() as number[];
  const db = openSearchDb(searchFile, key);
  try {
    const del = retain(db.prepare(`DELETE FROM ${SEARCH_TABLE} WHERE rowid = ?`));
    db.transaction(() => {
      for (const id of ids) del.run(id);
    })();
  } finally {
    db.close();
  }
  // An id a message holds again is that message's now: its own parse writes (or replaced) its row.
  return retain(archive.prepare('DELETE FROM purged_search')).run().changes;
}

/** Opens (and migrates) the search database, with the databases' key (ADR 0035); shared with the store's read path. */
export function openSearchDb(file: string, key: DatabaseKey): Database.Database {
  ensurePrivateFileSync(file); // 0600, as archive.db (fs-node/private-files.ts)
  const db = openKeyedDatabase(file, key);
  pragma(db, 'busy_timeout = 10000');
  // Before journal_mode = WAL writes a new file's first page: a new index frees pages without a VACUUM (ADR 0037, the databases' space).
  preferIncrementalVacuum(db);
  enterWalMode(db);
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
  const ins = retain(db.prepare(`INSERT OR REPLACE INTO ${SEARCH_TABLE} (rowid, subject, sender, to_rcpt, cc_rcpt, bcc_rcpt, body, attachments, stems) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`));
  const del = retain(db.prepare(`DELETE FROM ${SEARCH_TABLE} WHERE rowid = ?`));
  const setMeta = retain(db.prepare('INSERT OR REPLACE INTO search_meta (key, value) VALUES (?, ?)'));
  const delMeta = retain(db.prepare('DELETE FROM search_meta WHERE key = ?'));
  // One queue for both: a purge's removal posted before a later row of a reused id is applied first.
  const write = db.transaction((rows: FtsRow[], remove: number[], meta: MetaWrite[]) => {
    for (const id of remove) del.run(id);
    // The word forms of what a bare word is looked for in (not the addresses: names are matched as written).
    for (const [id, subject, sender, to, cc, bcc, body, attachments, hasAttachments] of rows) {
      const stems = stemText(`${subject}\n${body}\n${attachments}`);
      ins.run(id, subject, withAddressTokens(sender), withAddressTokens(to), withAddressTokens(cc), withAddressTokens(bcc), body, attachments, hasAttachments ? `${stems} ${ATTACHMENT_MARK}` : stems);
    }
    for (const [key, value] of meta) {
      if (value === null) delMeta.run(key);
      else setMeta.run(key, value);
    }
  });
  // 'optimize' merges every segment into one, leaving out the rows deleted since (their tombstones).
  const optimize = retain(db.prepare(`INSERT INTO ${SEARCH_TABLE} (${SEARCH_TABLE}) VALUES ('optimize')`));
  // Requests are applied one at a time, in order, a compaction's steps included.
  let queue: Promise<void> = Promise.resolve();
  const apply = async (req: FtsRequest): Promise<void> => {
    try {
      write(req.rows, req.remove ?? [], req.meta ?? []);
      let compact: CompactResult | undefined;
      if (req.compact) {
        optimize.run();
        compact = await compactDatabase(db, 'main', () => undefined);
      }
      port.postMessage({ id: req.id, ...(compact ? { compact } : {}) } satisfies FtsResponse);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      port.postMessage({ id: req.id, error: { code: e.code ?? 'ERROR', message: e.message ?? String(err) } } satisfies FtsResponse);
    }
  };
  port.on('message', (req: FtsRequest | 'close') => {
    queue = queue.then(() => {
      if (req !== 'close') return apply(req);
      db.close();
      port.close();
    });
  });
}
