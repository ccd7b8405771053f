/**
 * The master key written out for escrow and rebuilt from its parts (issue 16, item 2;
 * docs/encryption.md). A backup never holds the master key (ADR 0032, 0033), so without an escrow
 * copy a lost key is a lost archive: `keys export` writes the key the archive is opened with (as
 * a key file, or split into parts of which any K rebuild it), `keys combine` rebuilds the key
 * file from parts and, given the archive's configuration, checks it opens the archive.
 */
import type { Config } from '../config/loader.js';
import { MailsluiceError, isMailsluiceError } from '../core/errors/index.js';
import { ArchiveKeyring, masterKeyId, writeMasterKeyFile } from '../adapters/blob-fs/index.js';
import { combineKeyParts, readKeyParts, writeKeyParts } from '../adapters/escrow-shamir/index.js';
import { createEmbeddedApp, type EmbeddedApp } from './embedded.js';
import { openArchiveKeyring } from './archive-keys.js';
import { recordCliAction } from './audit.js';

/** How `keys export` splits the key: `parts` files, any `threshold` of which rebuild it. */
export interface KeySplit {
  parts: number;
  threshold: number;
}

/** What `keys export` wrote. */
export interface KeyExport {
  keyId: string;
  /** The key file, or the part files in order. */
  files: string[];
  split: KeySplit | null;
  /** Recorded in the archive's audit log (false before the first drain: no archive yet). */
  audited: boolean;
}

/** Writes `key` whole to `out`, or split into parts; answers the files. */
async function writeEscrow(key: Uint8Array, out: string, split: KeySplit | null): Promise<string[]> {
  if (split) return writeKeyParts(key, out, split.parts, split.threshold);
  await writeMasterKeyFile(out, key);
  return [out];
}

/**
 * Writes the archive's master key to `out` (the key file format `keys generate` writes), or split
 * into `split.parts` part files `out.part-<i>-of-<n>`; every file 0600, none over an existing
 * file. The key is the configured one, checked against the archive's keyring first (opening the
 * archive, beside a running service too); the export is recorded in the audit log
 * (`archive.keys.export`: the files and the key id, never the key). Before the first drain there
 * is no archive yet, and escrow is best done then: the key is written unchecked (no keyring holds
 * a data key yet) and unrecorded (no audit log yet).
 */
export async function exportMasterKey(config: Config, out: string, split: KeySplit | null): Promise<KeyExport> {
  if (!config.archiveEncryption) throw new MailsluiceError('CLI_USAGE', 'keys export needs archive.encryption.key set to the archive\'s master key');
  let app: EmbeddedApp;
  try {
    app = await createEmbeddedApp(config);
  } catch (err) {
    if (!isMailsluiceError(err, 'ARCHIVE_NOT_FOUND')) throw err;
    const key = (await openArchiveKeyring(config)).masterKey!;
    return { keyId: masterKeyId(key), files: await writeEscrow(key, out, split), split, audited: false };
  }
  try {
    const key = app.archiveMasterKey;
    if (!key) throw new MailsluiceError('INTERNAL', 'the archive opened without its master key');
    const files = await writeEscrow(key, out, split);
    const keyId = masterKeyId(key);
    await recordCliAction(app, 'archive.keys.export', { keyId, files, ...(split ? { parts: split.parts, threshold: split.threshold } : {}) });
    return { keyId, files, split, audited: true };
  } finally {
    await app.close();
  }
}

/** What `keys combine` rebuilt. */
export interface KeyCombine {
  keyId: string;
  file: string;
  /** The data directory whose keyring the key was checked against, when a configuration was given. */
  checkedAgainst: string | null;
  /** How many data keys that keyring holds (0: nothing encrypted yet, so nothing to check). */
  dataKeys: number;
}

/**
 * Rebuilds the master key from the part files `partFiles` and writes it to `out` (key file
 * format, 0600, never over a file). With `config`, the key is first checked against that
 * archive's keyring (ARCHIVE_KEY_INVALID when it is not the archive's key). Too few parts, parts
 * of different keys or a damaged part are KEY_PARTS_INVALID, and nothing is written.
 */
export async function combineMasterKey(partFiles: readonly string[], out: string, config: Pick<Config, 'dataDir'> | null): Promise<KeyCombine> {
  const { key, keyId } = await combineKeyParts(await readKeyParts(partFiles));
  let dataKeys = 0;
  if (config) dataKeys = (await ArchiveKeyring.open(config.dataDir, key)).size;
  await writeMasterKeyFile(out, key);
  return { keyId, file: out, checkedAgainst: config ? config.dataDir : null, dataKeys };
}
