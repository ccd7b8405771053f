/**
 * Upgrades of the store's database files (issue 14, item 7): a build refuses a file a newer build
 * migrated further than it knows, and a migration of a file that already holds data starts with a
 * copy of it, so a migration that goes wrong (or a downgrade) can be undone by hand; the last
 * {@link BACKUPS_KEPT} copies of each file are kept, older ones deleted.
 */
import type Database from 'better-sqlite3';
import { chmodSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { MailsluiceError } from '../../core/errors/index.js';
import { ensurePrivateFileSync, makePrivateDirSync, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../fs-node/private-files.js';
import { pragma, retain, userVersion } from '../sqlite-node/sqlite-retain.js';

/** Throws `ARCHIVE_TOO_NEW` when `db` (at `file`) was migrated past the `known` migrations. */
export function refuseNewerSchema(db: Database.Database, file: string, known: number): void {
  const version = userVersion(db);
  if (version <= known) return;
  throw new MailsluiceError(
    'ARCHIVE_TOO_NEW',
    `${file} has schema version ${version} but this mailsluice knows versions up to ${known}: a newer mailsluice wrote it; run that newer mailsluice (nothing was changed)`,
  );
}

/**
 * Pre-migration backups kept per database file (`archive`, `search`): each is a whole copy of
 * the archive's metadata, so an upgrade path that crosses many migrations (or a service that is
 * upgraded every week) would otherwise fill the disk with copies nobody needs beyond the last
 * few. Three: the last upgrade, and the two before it in case a problem shows only later.
 */
export const BACKUPS_KEPT = 3;

/** `<stem>-v<version>-<stamp>[-n].db`: a backup of `stem` by this module, with its time and tie-break. */
function backupOrder(stem: string, name: string): [string, number] | null {
  const m = new RegExp(`^${stem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-v\\d+-(\\d{8}T\\d{6}Z)(?:-(\\d+))?\\.db$`).exec(name);
  return m ? [m[1]!, Number(m[2] ?? 1)] : null;
}

/**
 * Deletes the backups of `file` beyond the newest `keep`, oldest first. Best effort: a backup
 * that cannot be deleted only costs space, never the migration it was made for.
 */
export function pruneBackups(file: string, keep = BACKUPS_KEPT): string[] {
  const dir = join(dirname(file), 'backups');
  const stem = basename(file).replace(/\.db$/, '');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const ours = names
    .map((name) => ({ name, order: backupOrder(stem, name) }))
    .filter((b): b is { name: string; order: [string, number] } => b.order !== null)
    .sort((a, b) => (a.order[0] === b.order[0] ? a.order[1] - b.order[1] : a.order[0] < b.order[0] ? -1 : 1));
  const removed: string[] = [];
  for (const b of ours.slice(0, Math.max(0, ours.length - keep))) {
    try {
      rmSync(join(dir, b.name), { force: true });
      removed.push(b.name);
    } catch {
      // kept: see above
    }
  }
  return removed;
}

/** The backup's name: `<stem>-v<old>-<UTC timestamp>.db` in `dataDir/backups`. */
function backupPath(file: string, version: number): string {
  const stem = basename(file).replace(/\.db$/, '');
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  let path = join(dirname(file), 'backups', `${stem}-v${version}-${stamp}.db`);
  // Two opens within one second (a test, a restart loop) keep both copies.
  for (let n = 2; existsSync(path); n++) path = join(dirname(file), 'backups', `${stem}-v${version}-${stamp}-${n}.db`);
  return path;
}

/**
 * Applies `migrations` to `db` (at `file`) from its `user_version` on; each step re-reads the
 * version inside its write transaction, since another process may open the same file at the same
 * moment (a step it ran meanwhile is skipped, not run twice). A file with data (`user_version` >
 * 0) that has steps to take is first copied with `VACUUM INTO`; a failed copy refuses the
 * migration with `STORE_WRITE_FAILED` naming the backup file. Returns the backup's path, if any.
 */
export function migrateWithBackup(db: Database.Database, file: string, migrations: readonly string[]): string | undefined {
  refuseNewerSchema(db, file, migrations.length);
  const from = userVersion(db);
  if (from >= migrations.length) return undefined;
  const backup = from > 0 ? backupBeforeMigration(db, file, from) : undefined;
  for (let i = from; i < migrations.length; i++) {
    db.transaction(() => {
      if (userVersion(db) > i) return;
      db.exec(migrations[i]!);
      pragma(db, `user_version = ${i + 1}`);
    }).immediate();
  }
  return backup;
}

function backupBeforeMigration(db: Database.Database, file: string, version: number): string {
  const path = backupPath(file, version);
  try {
    makePrivateDirSync(dirname(path));
    chmodSync(dirname(path), PRIVATE_DIR_MODE);
    // Made empty and 0600 first: VACUUM INTO accepts an empty file and keeps its mode.
    ensurePrivateFileSync(path);
    // Retained: a statement left to the GC aborts the process (sqlite-node/sqlite-retain.ts).
    retain(db.prepare('VACUUM INTO ?')).run(path);
    chmodSync(path, PRIVATE_FILE_MODE);
    // Only once the new copy is whole: the older ones beyond the last few go.
    pruneBackups(file);
    return path;
  } catch (err) {
    try {
      rmSync(path, { force: true }); // a partial copy must not pass for a backup
    } catch {
      // nothing was made there (the directory itself could not be)
    }
    throw new MailsluiceError(
      'STORE_WRITE_FAILED',
      `cannot back up ${file} to ${path} before migrating it from schema version ${version}: ${err instanceof Error ? err.message : String(err)}; the migration was not run`,
      { cause: err },
    );
  }
}
