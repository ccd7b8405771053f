/**
 * Encrypted SQLite files (ADR 0035): better-sqlite3-multiple-ciphers (installed under the name
 * `better-sqlite3`) with SQLite3MultipleCiphers' `sqlcipher` scheme in SQLCipher 4's format
 * (AES-256-CBC per page, a random IV and an HMAC-SHA512 per page, the file's first 16 bytes a
 * random salt). The key is a random 32-byte key given raw (`x'…'`), so no passphrase KDF runs at
 * each open. Which files are encrypted, and when, is the app's decision (`core/archive/encryption.ts`);
 * this module only opens, attaches and converts a file with the key it is given.
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, fsyncSync, openSync, readSync, renameSync, rmSync, copyFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { MailsluiceError } from '../../core/errors/index.js';
import { pragma, retain } from '../sqlite-node/sqlite-retain.js';

/** fsync of `path` (a file, or a directory so that a rename in it is durable). */
function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The key of the archive's databases (32 bytes), or null: the files are in clear. */
export type DatabaseKey = Uint8Array | null;

/** The first 16 bytes of every SQLite file in clear; an encrypted file starts with its salt. */
const CLEAR_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/** What a database file on disk is: missing (or empty, not yet written), in clear, or not (encrypted). */
export function databaseFileState(file: string): 'missing' | 'clear' | 'encrypted' {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw err;
  }
  try {
    const head = Buffer.alloc(16);
    const n = readSync(fd, head, 0, 16, 0);
    if (n === 0) return 'missing';
    return n === 16 && head.equals(CLEAR_HEADER) ? 'clear' : 'encrypted';
  } finally {
    closeSync(fd);
  }
}

/** The key as SQLite3MC takes a raw key: `x'<64 hex digits>'` (hex only: nothing to escape). */
function rawKey(key: Uint8Array): string {
  return `x'${Buffer.from(key).toString('hex')}'`;
}

let ciphersChecked = false;

/**
 * Refuses to go on when the installed SQLite has no ciphers (a `node_modules` with plain
 * better-sqlite3 in it, not the alias `package.json` names): plain SQLite ignores `PRAGMA key`
 * silently, so the databases would be written in clear while the keyring says they are not.
 */
function assertCiphers(db: Database.Database): void {
  if (ciphersChecked) return;
  // `PRAGMA cipher` answers the scheme in SQLite3MC without reading the (maybe encrypted) schema;
  // plain SQLite answers nothing to a pragma it does not know.
  if (pragma(db, 'cipher').length === 0) {
    throw new MailsluiceError('INTERNAL', 'the installed better-sqlite3 has no encryption (not better-sqlite3-multiple-ciphers): run npm ci; nothing was written');
  }
  ciphersChecked = true;
}

/** Sets the cipher scheme of `db`'s main database and of what it attaches after (before any read). */
function useScheme(db: Database.Database): void {
  assertCiphers(db);
  pragma(db, "cipher = 'sqlcipher'");
  pragma(db, 'legacy = 4');
}

/**
 * Gives `db` (just opened on `file`) its key, and reads its schema so that a wrong key (or a file
 * encrypted when no key is given) fails here, as ARCHIVE_KEY_INVALID naming the file, instead of
 * as SQLite's "file is not a database" at the first query. A file still in clear is opened
 * without the key (an archive written before encryption was turned on, until its next start
 * encrypts it: the app's {@link encryptDatabaseFile}).
 */
export function keyDatabase(db: Database.Database, file: string, key: DatabaseKey): void {
  const state = key ? databaseFileState(file) : 'clear';
  if (key && state !== 'clear') {
    useScheme(db);
    pragma(db, `key = "${rawKey(key)}"`);
  }
  try {
    pragma(db, 'schema_version');
  } catch (err) {
    if ((err as { code?: string }).code !== 'SQLITE_NOTADB') throw err;
    throw new MailsluiceError(
      'ARCHIVE_KEY_INVALID',
      key
        ? `archive.encryption: ${file} does not open with the archive's database key (the keyring is not this archive's, or the file is damaged)`
        : `archive.encryption: ${file} is encrypted (or is not a database) and no database key is given: configure archive.encryption.key`,
      { retryable: false, cause: err },
    );
  }
}

/** `ATTACH DATABASE file AS alias`, with the key when `file` is encrypted (an attached file has a key of its own). */
export function attachDatabase(db: Database.Database, file: string, alias: string, key: DatabaseKey): void {
  if (key) assertCiphers(db);
  const k = key && databaseFileState(file) !== 'clear' ? rawKey(key) : '';
  retain(db.prepare(`ATTACH DATABASE ? AS ${alias} KEY ?`)).run(file, k);
}

/** `new Database(file, options)` with the key given (see {@link keyDatabase}); closed again when the key does not fit. */
export function openKeyedDatabase(file: string, key: DatabaseKey, options: Database.Options = {}): Database.Database {
  const db = retain(new Database(file, options));
  try {
    keyDatabase(db, file, key);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * Encrypts the database `file`, in clear, with `key`, crash-safely: its WAL checkpointed into it,
 * a copy (`<file>.encrypting`) encrypted in place (`PRAGMA rekey`, which SQLite3MC does not do in
 * WAL mode, so in rollback mode) and fsynced, then renamed over the file. A crash before the rename
 * leaves the file in clear (the copy is made again at the next try); after it, encrypted. The
 * caller holds the data directory: no other connection may write the file meanwhile.
 */
export function encryptDatabaseFile(file: string, key: Uint8Array): void {
  const copy = `${file}.encrypting`;
  for (const f of [copy, `${copy}-journal`, `${copy}-wal`, `${copy}-shm`]) rmSync(f, { force: true });
  const plain = retain(new Database(file, { fileMustExist: true }));
  try {
    const [ck] = pragma(plain, 'wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
    if (ck && ck.busy !== 0) throw new Error('another connection holds it open (its log could not be checkpointed)');
  } finally {
    plain.close();
  }
  // A log left beside the file would be replayed into the encrypted one: it must be empty now.
  for (const f of [`${file}-wal`]) if (existsSync(f) && statSync(f).size > 0) throw new Error(`${f} still holds commits`);
  copyFileSync(file, copy);
  const db = retain(new Database(copy, { fileMustExist: true }));
  try {
    pragma(db, 'journal_mode = DELETE');
    useScheme(db);
    pragma(db, `rekey = "${rawKey(key)}"`);
  } finally {
    db.close();
  }
  fsyncPath(copy);
  for (const f of [`${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  renameSync(copy, file);
  fsyncPath(dirname(file));
}
