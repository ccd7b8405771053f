/**
 * The archive's keys as a command opens them (ADR 0033): the configured master key read and
 * checked against the keyring of the data directory before anything is read or taken.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/loader.js';
import type { Logger } from '../core/ports/logger.js';
import { KEYRING_FILE, isEncryptedDatabase } from '../core/archive/encryption.js';
import { MailsluiceError } from '../core/errors/index.js';
// The keyring's own entry, not the blob store's index: `search` opens the keys but never the packs (ADR 0039).
import { ArchiveKeyring, loadMasterKey } from '../adapters/blob-fs/keyring.js';
import { databaseFileState, encryptDatabaseFile } from '../adapters/store-sqlite/index.js';

export { generateMasterKeyFile, masterKeyId } from '../adapters/blob-fs/keyring.js';
export type { ArchiveKeyring } from '../adapters/blob-fs/keyring.js';

/**
 * Opens the keyring of `config.dataDir` with the configured master key (or none, encryption
 * off); throws ARCHIVE_KEY_INVALID with one line when the key is missing, unreadable or wrong,
 * or when the archive is encrypted and no key is configured.
 */
export async function openArchiveKeyring(config: Pick<Config, 'dataDir' | 'archiveEncryption'>): Promise<ArchiveKeyring> {
  const master = config.archiveEncryption ? await loadMasterKey(config.archiveEncryption.key, process.env) : null;
  return ArchiveKeyring.open(config.dataDir, master);
}

/**
 * Checks the configured master key (or its absence) against a keyring kept in `dir` (a backup's
 * generation directory, before `restore` copies anything): ARCHIVE_KEY_INVALID with one line when
 * the restored archive would not open with it.
 */
export async function checkKeyringIn(dir: string, config: Pick<Config, 'archiveEncryption'>): Promise<void> {
  await openArchiveKeyring({ dataDir: dir, archiveEncryption: config.archiveEncryption });
}

/** Reads a master key file (the new key of `keys rotate`); throws ARCHIVE_KEY_INVALID naming it. */
export function readMasterKeyFile(file: string): Promise<Buffer> {
  return loadMasterKey({ file }, process.env);
}

/** The archive's database files (relative paths) that encryption covers, found in `dataDir`. */
async function databaseFiles(dataDir: string): Promise<string[]> {
  const found: string[] = [];
  for (const dir of ['', 'backups']) {
    let names: string[];
    try {
      names = await readdir(join(dataDir, dir));
    } catch {
      continue;
    }
    for (const n of names) {
      const path = dir ? `${dir}/${n}` : n;
      if (isEncryptedDatabase(path)) found.push(path);
    }
  }
  return found;
}

/**
 * The key the archive's databases are opened with (ADR 0035), or null (in clear). With
 * encryption on, the command that holds the data directory (`holder`: start, drain, …) makes the
 * key if the keyring has none yet, and first encrypts every database still in clear (an archive
 * from before encryption was turned on), one log line each; a crash part way leaves each file
 * whole, in clear or encrypted, and the next start goes on. The other commands take the key the
 * keyring holds and open a file still in clear without it.
 */
export async function openDatabaseKey(keyring: ArchiveKeyring, dataDir: string, holder: boolean, logger: Logger): Promise<Uint8Array | null> {
  if (!keyring.encrypting) return null;
  if (!holder) return keyring.databaseKey;
  const files = await databaseFiles(dataDir);
  if (!keyring.databaseKey) {
    // Encrypted files but no key to open them: the keyring was lost or replaced. A new key would
    // open nothing; say what is wrong instead.
    const locked = files.find((path) => databaseFileState(join(dataDir, path)) === 'encrypted');
    if (locked) {
      throw new MailsluiceError(
        'ARCHIVE_KEY_INVALID',
        `archive.encryption: ${join(dataDir, locked)} is encrypted but the keyring ${join(dataDir, KEYRING_FILE)} holds no database key (lost or replaced: restore it from a backup)`,
        { retryable: false },
      );
    }
  }
  const key = await keyring.ensureDatabaseKey();
  for (const path of files) {
    const file = join(dataDir, path);
    if (databaseFileState(file) !== 'clear') continue;
    const started = Date.now();
    try {
      encryptDatabaseFile(file, key);
    } catch (err) {
      throw new MailsluiceError('STORE_WRITE_FAILED', `cannot encrypt ${file} (archive.encryption is on and it is still in clear): ${err instanceof Error ? err.message : String(err)}; it is left in clear, unchanged`, { cause: err });
    }
    logger.warn('database encrypted (archive.encryption was turned on for an archive that had it in clear)', { file: path, ms: Date.now() - started });
  }
  return key;
}
