/**
 * The archive's keys as a command opens them (ADR 0033): the configured master key read and
 * checked against the keyring of the data directory before anything is read or taken.
 */
import type { Config } from '../config/loader.js';
import { ArchiveKeyring, loadMasterKey } from '../adapters/blob-fs/index.js';

export { generateMasterKeyFile, masterKeyId } from '../adapters/blob-fs/index.js';
export type { ArchiveKeyring } from '../adapters/blob-fs/index.js';

/**
 * Opens the keyring of `config.dataDir` with the configured master key (or none, encryption
 * off); throws ARCHIVE_KEY_INVALID with one line when the key is missing, unreadable or wrong,
 * or when the archive is encrypted and no key is configured.
 */
export async function openArchiveKeyring(config: Pick<Config, 'dataDir' | 'archiveEncryption'>): Promise<ArchiveKeyring> {
  const master = config.archiveEncryption ? await loadMasterKey(config.archiveEncryption.key, process.env) : null;
  return ArchiveKeyring.open(config.dataDir, master);
}

/** Reads a master key file (the new key of `keys rotate`); throws ARCHIVE_KEY_INVALID naming it. */
export function readMasterKeyFile(file: string): Promise<Buffer> {
  return loadMasterKey({ file }, process.env);
}
