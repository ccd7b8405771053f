/**
 * `mailsluice restore --from DIR` (issue 16, item 2; ADR 0032): a backup brought back into an
 * empty or new data directory, every file checked against the manifest's SHA-256 on the way.
 * The files are written into a directory beside the target and renamed into place at the end, so
 * a restore that fails (a damaged backup, a full disk) leaves no half archive where `start` would
 * find it.
 */
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { MailsluiceError } from '../core/errors/index.js';
import { MANIFEST_FILE, type ManifestEntry } from '../core/backup/backup-plan.js';
import { KEYRING_FILE } from '../core/archive/encryption.js';
import type { Clock } from '../core/ports/clock.js';
import { systemClock } from '../adapters/clock-system/index.js';
import { fsyncDirectory } from '../adapters/fs-node/fsync-directory.js';
import { copyPrefix, privateDir } from './backup-files.js';
import { readManifest } from './backup.js';
import { loadConfig, type Config } from '../config/loader.js';

/** What a restore did. */
export interface RestoreReport {
  from: string;
  dataDir: string;
  /** The backup's generation and when its databases were copied. */
  generation: number;
  createdAt: string;
  files: number;
  bytes: number;
  durationMs: number;
}

/**
 * The configuration as `restore` reads it: on a fresh machine the secret store it refers to
 * (`{ secret: NAME }`) is in the backup, not yet in `dataDir`, so its values are not looked up
 * (a stand-in is given); restore needs only `dataDir` of it.
 */
export function readConfigForRestore(file: string): Config {
  return loadConfig(file, { secrets: () => ({ get: () => 'not-read-by-restore' }) });
}

/** Throws `RESTORE_TARGET_NOT_EMPTY` unless `dataDir` is missing or an empty directory. */
async function assertEmptyTarget(dataDir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dataDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') names = ['(a file)'];
    else throw err;
  }
  if (names.length > 0) {
    throw new MailsluiceError(
      'RESTORE_TARGET_NOT_EMPTY',
      `the data directory ${dataDir} is not empty (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', …' : ''}): restore only into an empty or new directory; move the old one away or point dataDir elsewhere`,
      { details: { dataDir } },
    );
  }
}

/** One file of the backup into the new data directory, checked against its hash. */
async function restoreEntry(from: string, staging: string, e: ManifestEntry): Promise<void> {
  const source = join(from, e.stored);
  let size: number;
  try {
    size = (await stat(source)).size;
  } catch (err) {
    throw new MailsluiceError('BACKUP_INVALID', `the backup in ${from} lacks ${e.stored} (${e.path}), which its manifest names`, { cause: err });
  }
  if (size < e.size) throw new MailsluiceError('BACKUP_INVALID', `${source} (${e.path}) holds ${size} bytes, fewer than the ${e.size} its manifest names`);
  const copied = await copyPrefix(source, join(staging, e.path), e.size);
  if (copied!.sha256 !== e.sha256) {
    throw new MailsluiceError('BACKUP_INVALID', `${source} (${e.path}) does not match its SHA-256 in the manifest: the backup is damaged; nothing was restored`);
  }
}

/**
 * Restores the backup in `from` into `dataDir`, which must be missing or empty. `checkKeyring`
 * (the configured master key against the backup's keyring, ADR 0033/0035) runs on the directory
 * holding the backup's `archive-keys.json` before anything is copied.
 */
export async function restoreArchive(from: string, dataDir: string, clock: Clock = systemClock, checkKeyring?: (dir: string) => Promise<void>): Promise<RestoreReport> {
  const started = clock.now();
  await assertEmptyTarget(dataDir);
  const manifest = await readManifest(from);
  if (!manifest) throw new MailsluiceError('BACKUP_INVALID', `${from} holds no backup (no ${MANIFEST_FILE})`);
  const keyring = manifest.entries.find((e) => e.path === KEYRING_FILE);
  if (keyring && checkKeyring) await checkKeyring(dirname(join(from, keyring.stored)));
  const staging = join(dirname(dataDir), `.${basename(dataDir)}.restoring-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await privateDir(staging);
  try {
    for (const e of manifest.entries) await restoreEntry(from, staging, e);
    for (const dir of new Set(manifest.entries.map((e) => dirname(join(staging, e.path))))) await fsyncDirectory(dir);
    await assertEmptyTarget(dataDir); // made meanwhile?
    // An empty directory is replaced by the rename (rename(2) allows it).
    await rename(staging, dataDir);
    await fsyncDirectory(dirname(dataDir));
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  return {
    from,
    dataDir,
    generation: manifest.generation,
    createdAt: manifest.createdAt,
    files: manifest.entries.length,
    bytes: manifest.entries.reduce((n, e) => n + e.size, 0),
    durationMs: clock.now() - started,
  };
}
