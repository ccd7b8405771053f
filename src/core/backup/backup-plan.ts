/**
 * Backup and restore as decisions, without I/O (issue 16, item 2; ADR 0032): which files of a
 * data directory a backup holds and how, the manifest that lists them with their SHA-256, what an
 * incremental backup copies again, and what `restore` accepts. The app does the reading, copying
 * and hashing this module asks for.
 */

/** The manifest's format number; a backup of another format is refused by `restore`. */
export const BACKUP_FORMAT = 1;

/** The manifest's name in a backup directory: written last, atomically, so it names only whole files. */
export const MANIFEST_FILE = 'manifest.json';

/**
 * How a data directory entry goes into a backup:
 * - `database`: an SQLite file, copied through SQLite's online backup API (a consistent snapshot,
 *   whatever the service writes meanwhile); a new copy in every backup;
 * - `shared`: a file whose bytes never change once written, up to the length a backup needs
 *   (blob packs, staging redirects, audit archive files): kept in the backup's shared area and
 *   copied again only when it grew, and then only its new tail (incremental);
 * - `file`: a small file copied whole into every backup (the secret store, the alert state).
 */
export type EntryKind = 'database' | 'shared' | 'file';

/** Where a data directory entry goes: its kind, or why it is left out. */
export type EntryPolicy = { include: true; kind: EntryKind } | { include: false; reason: string };

/** One file in a backup. */
export interface ManifestEntry {
  /** Its path in the data directory, `/`-separated (`archive.db`, `blobs/pack-00000001.mspack`). */
  path: string;
  kind: EntryKind;
  /** How many bytes of it the backup holds (a pack: the length the databases reference). */
  size: number;
  /** SHA-256 (hex) of those bytes. */
  sha256: string;
  /** Where the bytes are, relative to the backup directory. */
  stored: string;
}

/** A backup's manifest (`manifest.json`). */
export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  /** When the databases were snapshotted (ISO 8601). */
  createdAt: string;
  /** 1 for the first backup into a directory, then one more for each incremental one. */
  generation: number;
  entries: ManifestEntry[];
}

/** Key files: never in a backup (a backup that holds the key to what it holds protects nothing). */
const KEY_FILES = new Set(['secrets.key', 'probe.key', 'api-url.key']);
/** What belongs to a running process, not to the archive. */
const RUNTIME_FILES = new Set(['lock.db', 'lock.pid', 'control.sock']);
/** Small files copied whole each time. */
const WHOLE_FILES = new Set(['secrets.enc', 'alert-state.json']);
const BLOB_FILE = /^blobs\/(?:(?:pack|stage)-\d{8,}\.mspack|stage-\d{8,}\.redirect)$/;
const AUDIT_ARCHIVE_FILE = /^audit-archive\/[^/]+$/;

/**
 * Whether and how the data directory entry `path` (`/`-separated, relative) goes into a backup.
 * The databases and the packs are the archive; the key files are left out on purpose (the
 * operator keeps `secrets.key` apart; a restored service makes a new probe and URL key); logs,
 * SQLite's journals, temporary files, the migration copies (`backups/`) and the running
 * process's lock and socket are not the archive.
 */
export function entryPolicy(path: string): EntryPolicy {
  const top = path.split('/')[0]!;
  if (KEY_FILES.has(path)) return { include: false, reason: 'a key file: kept apart from the backup' };
  if (RUNTIME_FILES.has(path)) return { include: false, reason: "the running process's lock or socket" };
  if (top === 'logs' || top === 'backups') return { include: false, reason: top === 'logs' ? 'connection logs' : 'copies made before a schema migration' };
  if (/(?:-wal|-shm|-journal|\.tmp)$/.test(path)) return { include: false, reason: 'a journal or temporary file' };
  if (top === 'blobs') return BLOB_FILE.test(path) ? { include: true, kind: 'shared' } : { include: false, reason: 'not a pack or redirect of the blob store' };
  if (AUDIT_ARCHIVE_FILE.test(path)) return { include: true, kind: 'shared' };
  if (!path.includes('/') && path.endsWith('.db')) return { include: true, kind: 'database' };
  if (WHOLE_FILES.has(path)) return { include: true, kind: 'file' };
  return { include: false, reason: 'not part of the archive' };
}

/** Where an entry's bytes live in a backup: shared files in `shared/`, the rest in the generation's own directory. */
export function storedPath(path: string, kind: EntryKind, generation: number): string {
  return kind === 'shared' ? `shared/${path}` : `${generationDir(generation)}/${path}`;
}

/** The directory of a generation's databases and whole files. */
export function generationDir(generation: number): string {
  return `gen-${String(generation).padStart(6, '0')}`;
}

/** What an incremental backup does with a shared file. */
export type SharedCopy =
  | { action: 'keep' }
  | { action: 'append'; from: number; prefixSha256: string }
  | { action: 'copy' };

/**
 * What to do with a shared file that the backup needs `length` bytes of, given what the previous
 * backup holds of it. The same length: nothing (these bytes never change once the databases
 * reference them: packs are append-only and a record is never rewritten, ADR 0001 and 0018).
 * Longer: only the new tail, once the app has checked the source's first `from` bytes still hash
 * to what the backup holds (else, and when shorter or unknown: the whole file again).
 */
export function planSharedCopy(previous: ManifestEntry | undefined, length: number): SharedCopy {
  if (!previous || previous.kind !== 'shared' || previous.size > length || previous.size === 0) return { action: 'copy' };
  if (previous.size === length) return { action: 'keep' };
  return { action: 'append', from: previous.size, prefixSha256: previous.sha256 };
}

/** Stored paths a backup directory may hold but the manifest no longer names (an older generation's directory is removed whole). */
export function staleGenerations(dirs: readonly string[], current: number): string[] {
  return dirs.filter((d) => /^gen-\d{6,}$/.test(d) && d !== generationDir(current));
}

/** The manifest as written: stable order, one entry per line's worth of JSON. */
export function manifestText(m: BackupManifest): string {
  const entries = [...m.entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return `${JSON.stringify({ ...m, entries }, null, 1)}\n`;
}

const SAFE_PATH = /^(?!\/)(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._/-]+$/;
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Reads a manifest's text: the manifest, or the first thing wrong with it. Paths are checked so
 * that a doctored manifest cannot make `restore` write or read outside its directories.
 */
export function parseManifest(text: string): BackupManifest | string {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return 'is not JSON';
  }
  const m = raw as Partial<BackupManifest>;
  if (typeof m !== 'object' || m === null) return 'is not an object';
  if (m.format !== BACKUP_FORMAT) return `is of format ${String(m.format)}, not ${BACKUP_FORMAT}`;
  if (typeof m.createdAt !== 'string' || !Number.isInteger(m.generation) || !Array.isArray(m.entries)) return 'lacks createdAt, generation or entries';
  const seen = new Set<string>();
  for (const e of m.entries as unknown[]) {
    const x = e as Partial<ManifestEntry>;
    if (typeof x.path !== 'string' || !SAFE_PATH.test(x.path) || typeof x.stored !== 'string' || !SAFE_PATH.test(x.stored)) return `names an unsafe or missing path (${JSON.stringify(x.path ?? x.stored)})`;
    if (x.kind !== 'database' && x.kind !== 'shared' && x.kind !== 'file') return `gives ${x.path} an unknown kind`;
    if (!Number.isSafeInteger(x.size) || (x.size as number) < 0 || typeof x.sha256 !== 'string' || !HEX64.test(x.sha256)) return `gives ${x.path} no size or SHA-256`;
    if (seen.has(x.path)) return `names ${x.path} twice`;
    seen.add(x.path);
  }
  if (!seen.has('archive.db')) return 'holds no archive.db';
  return m as BackupManifest;
}

/** What a backup did: for the command's output and the ADR's figures. */
export interface BackupReport {
  out: string;
  generation: number;
  /** Files the manifest names, and their bytes. */
  files: number;
  bytes: number;
  /** Bytes written into the backup by this run (databases, whole files and shared tails). */
  bytesCopied: number;
  /** Shared files copied whole, appended to, and kept as they were. */
  shared: { copied: number; appended: number; kept: number };
  durationMs: number;
}
