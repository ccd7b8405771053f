/**
 * The databases' side of a backup (issue 16, item 2; ADR 0032): a consistent copy of a live
 * SQLite file through SQLite's online backup API, the full-text copy trimmed to the metadata
 * copy, and the blob refs a copy holds.
 */
import { SEARCH_TABLE } from './fts-version.js';
import type Database from 'better-sqlite3';
import { MailsluiceError } from '../../core/errors/index.js';
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { setImmediate } from 'node:timers/promises';
import { ensurePrivateFileSync } from '../fs-node/private-files.js';
import { mapSqliteError } from './sqlite-error-map.js';
import { pragma, retain } from '../sqlite-node/sqlite-retain.js';
import { attachDatabase, databaseFileState, openKeyedDatabase, type DatabaseKey } from './sqlite-cipher.js';

/**
 * Every page in one step: one step is one read transaction on the source, so the copy is the
 * database as of one commit. Smaller steps would let a commit of another connection (the
 * service's writers, its index thread) restart the copy from the first page, for ever while a
 * drain commits every few milliseconds.
 */
const ALL_PAGES = 0x7fffffff;

function fsyncFile(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Copies the SQLite database `source` (in use or not) to `dest` (made 0600 first, so SQLite does
 * not make it 0644) through the online backup API, durably. A WAL reader neither waits for the
 * writer nor stops it: the service goes on committing while the copy is read. An encrypted
 * source (ADR 0035, opened with `key`) is copied with `VACUUM INTO` instead, which writes the
 * copy encrypted under the same key (the backup API refuses two files of different page layouts,
 * and would write the copy in clear); also one read transaction, so also one commit's state.
 */
export async function snapshotDatabase(source: string, dest: string, key: DatabaseKey = null): Promise<void> {
  let db: Database.Database | undefined;
  try {
    db = openKeyedDatabase(source, key, { fileMustExist: true });
    pragma(db, 'busy_timeout = 10000');
    ensurePrivateFileSync(dest);
    if (key && databaseFileState(source) === 'encrypted') retain(db.prepare('VACUUM INTO ?')).run(dest);
    else await db.backup(dest, { progress: () => ALL_PAGES });
  } catch (err) {
    if (err instanceof MailsluiceError) throw err;
    throw mapSqliteError(err, `copying ${source} to ${dest}`);
  } finally {
    db?.close();
  }
  fsyncFile(dest);
}

/**
 * Removes from the full-text copy `searchCopy` the rows of messages the metadata copy
 * `archiveCopy` does not hold. `search.db` is copied after `archive.db`, so it may index
 * messages committed between the two copies; left there, their rowids would be the ids the
 * restored archive gives its next messages. (Every message the metadata copy marks parsed has its
 * row: a row is written before its message is marked parsed.) Returns how many were removed.
 */
export function trimSearchCopy(searchCopy: string, archiveCopy: string, key: DatabaseKey = null): number {
  const db = openKeyedDatabase(searchCopy, key, { fileMustExist: true });
  try {
    attachDatabase(db, archiveCopy, 'a', key);
    const removed = retain(db.prepare(`DELETE FROM ${SEARCH_TABLE} WHERE rowid NOT IN (SELECT id FROM a.messages)`)).run().changes;
    retain(db.prepare('DETACH DATABASE a')).run();
    return removed;
  } catch (err) {
    throw mapSqliteError(err, `trimming ${searchCopy}`);
  } finally {
    db.close();
    fsyncFile(searchCopy);
  }
}

/**
 * Refs read per page by {@link blobRefsOf}: a 100,000-message archive is 20 short reads, never
 * one array of every ref.
 */
export const BLOB_REF_PAGE_ROWS = 5000;

/**
 * Every blob ref the metadata copy `archiveCopy` (opened with the databases' `key`, ADR 0035) holds, read `pageRows` at a time by the
 * catalogue's key (the copy is the backup's own file: nothing writes it meanwhile), with a turn
 * of the event loop between pages.
 */
export async function* blobRefsOf(archiveCopy: string, key: DatabaseKey = null, pageRows = BLOB_REF_PAGE_ROWS): AsyncGenerator<string> {
  const db = openKeyedDatabase(archiveCopy, key, { readonly: true, fileMustExist: true });
  try {
    const page = retain(db.prepare('SELECT sha256, ref FROM blobs WHERE sha256 > ? ORDER BY sha256 LIMIT ?'));
    for (let after = ''; ; ) {
      let rows: Array<{ sha256: string; ref: string }>;
      try {
        rows = page.all(after, pageRows) as Array<{ sha256: string; ref: string }>;
      } catch (err) {
        throw mapSqliteError(err, `reading the blob refs of ${archiveCopy}`);
      }
      for (const r of rows) yield r.ref;
      if (rows.length < pageRows) return;
      after = rows[rows.length - 1]!.sha256;
      await setImmediate();
    }
  } finally {
    db.close();
  }
}
