/**
 * `mailsluice backup --out DIR` (issue 16, item 2; ADR 0032): a consistent copy of an archive,
 * running or not, into a directory that the next backup brings up to date incrementally.
 *
 * Order is what makes the copy consistent: the databases first (`archive.db` through SQLite's
 * online backup API, then the others, then the full-text copy trimmed to it), then the blob files
 * up to the lengths the metadata copy's refs reach, then the small files, then the manifest
 * (written last, atomically): a backup stopped anywhere leaves the previous manifest and every
 * byte it names as they were.
 */
import { readFile, rm, readdir, unlink, chmod, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { MailsluiceError } from '../core/errors/index.js';
import {
  MANIFEST_FILE,
  BACKUP_FORMAT,
  entryPolicy,
  generationDir,
  manifestText,
  parseManifest,
  planSharedCopy,
  staleGenerations,
  storedPath,
  type BackupManifest,
  type BackupReport,
  type EntryKind,
  type ManifestEntry,
} from '../core/backup/backup-plan.js';
import type { Clock } from '../core/ports/clock.js';
import { systemClock } from '../adapters/clock-system/index.js';
import { backupExtents, type BlobExtents } from '../adapters/blob-fs/index.js';
import { blobRefsOf, lockDataDir, snapshotDatabase, takeReclaimLock, trimSearchCopy, LOCK_FILE, LOCK_HOLDER_FILE, type DataDirLock } from '../adapters/store-sqlite/index.js';
import { writeFileAtomic } from '../adapters/fs-node/atomic-write.js';
import { fsyncDirectory } from '../adapters/fs-node/fsync-directory.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../adapters/fs-node/private-files.js';
import { copyPrefix, hashPrefix, privateDir, walkFiles } from './backup-files.js';

/** Test hooks: what happens between working out the blob files and copying them (a compaction racing the copy). */
export interface BackupHooks {
  afterBlobPlan?(round: number): Promise<void>;
}

/** How many times the blob files are worked out again when a staging pack was compacted under the copy. */
const BLOB_ROUNDS = 5;

function invalid(message: string, cause?: unknown): MailsluiceError {
  return new MailsluiceError('BACKUP_INVALID', message, cause === undefined ? {} : { cause });
}

/** The manifest of the backup in `dir`, null when there is none (a new backup); `BACKUP_INVALID` for one that cannot be read. */
export async function readManifest(dir: string): Promise<BackupManifest | null> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw invalid(`cannot read ${join(dir, MANIFEST_FILE)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, err);
  }
  const m = parseManifest(text);
  if (typeof m === 'string') throw invalid(`${join(dir, MANIFEST_FILE)} ${m}: not a mailsluice backup this version can use`);
  return m;
}

/** The previous backup in `out`, or null; refuses a directory that holds other things. */
async function previousBackup(out: string): Promise<BackupManifest | null> {
  let names: string[];
  try {
    names = await readdir(out);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const previous = await readManifest(out);
  if (!previous && names.some((n) => n !== 'shared' && n !== LOCK_FILE && n !== LOCK_HOLDER_FILE && !/^gen-\d+$/.test(n))) {
    throw invalid(`${out} is not empty and holds no backup (no ${MANIFEST_FILE}): give an empty or new directory, or one an earlier backup wrote`);
  }
  return previous;
}

/** One run of a backup: what it wrote so far. */
class BackupRun {
  /** This run's entries by path (a blob file copied again, longer, in a later round replaces its entry). */
  readonly #entries = new Map<string, ManifestEntry>();
  bytesCopied = 0;
  readonly shared = { copied: 0, appended: 0, kept: 0 };
  readonly #previous: Map<string, ManifestEntry>;

  constructor(
    readonly dataDir: string,
    readonly out: string,
    readonly generation: number,
    previous: BackupManifest | null,
    /** The databases' key (ADR 0035): an encrypted database is copied encrypted under it. */
    readonly key: Uint8Array | null,
  ) {
    this.#previous = new Map((previous?.entries ?? []).map((e) => [e.path, e]));
  }

  add(path: string, kind: EntryKind, size: number, sha256: string): void {
    this.#entries.set(path, { path, kind, size, sha256, stored: storedPath(path, kind, this.generation) });
  }

  get entries(): ManifestEntry[] {
    return [...this.#entries.values()];
  }

  /** How many bytes of `path` this run holds so far (0: none yet). */
  held(path: string): number {
    return this.#entries.get(path)?.size ?? 0;
  }

  /** A database, through SQLite's backup API, into this generation's directory. */
  async database(path: string): Promise<string> {
    const dest = join(this.out, storedPath(path, 'database', this.generation));
    await privateDir(dirname(dest));
    await snapshotDatabase(join(this.dataDir, path), dest, this.key);
    return dest;
  }

  /** Hashes the database copies (after the full-text copy was trimmed) into the manifest. */
  async hashDatabase(path: string, dest: string): Promise<void> {
    const size = (await stat(dest)).size;
    this.add(path, 'database', size, await hashPrefix(dest, size));
    this.bytesCopied += size;
  }

  /** A whole small file into this generation's directory. */
  async whole(path: string): Promise<void> {
    const copied = await copyPrefix(join(this.dataDir, path), join(this.out, storedPath(path, 'file', this.generation)), 'all');
    this.add(path, 'file', copied!.size, copied!.sha256);
    this.bytesCopied += copied!.written;
  }

  /** `length` bytes of a shared file, as little of it as the previous backup allows. */
  async sharedFile(path: string, length: number): Promise<void> {
    const source = join(this.dataDir, path);
    const dest = join(this.out, storedPath(path, 'shared', this.generation));
    // What this run copied already (an earlier round), else what the previous backup holds, if
    // its file is still there whole (one removed or cut by hand is copied again).
    const storedSize = await stat(dest).then((st) => st.size, () => -1);
    const known = this.#entries.get(path) ?? this.#previous.get(path);
    const prev = known && storedSize >= known.size ? known : undefined;
    const plan = planSharedCopy(prev, length);
    if (plan.action === 'keep') {
      this.add(path, 'shared', prev!.size, prev!.sha256);
      this.shared.kept++;
      return;
    }
    let copied = plan.action === 'append' ? await copyPrefix(source, dest, length, { from: plan.from, sha256: plan.prefixSha256 }) : null;
    if (copied) this.shared.appended++;
    else {
      copied = (await copyPrefix(source, dest, length))!;
      this.shared.copied++;
    }
    this.add(path, 'shared', length, copied.sha256);
    this.bytesCopied += copied.written;
  }
}

/** Copies the blob files the metadata copy needs; a staging pack compacted meanwhile is found again through its redirect. */
async function copyBlobs(run: BackupRun, blobsDir: string, refs: () => AsyncIterable<string>, hooks: BackupHooks): Promise<void> {
  for (let round = 1; ; round++) {
    const extents: BlobExtents = await backupExtents(blobsDir, refs());
    await hooks.afterBlobPlan?.(round);
    let vanished = false;
    for (const [name, length] of [...extents].sort()) {
      const path = `blobs/${name}`;
      // A compactor's pack may be needed further in a later round (another staging pack's
      // copies went into it meanwhile): its new tail is appended.
      if (run.held(path) >= length) continue;
      try {
        await run.sharedFile(path, length);
      } catch (err) {
        // The compactor deleted a staging pack after writing its redirect: ask again.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !name.startsWith('stage-') || round === BLOB_ROUNDS) throw err;
        vanished = true;
      }
    }
    if (!vanished) return;
  }
}

/** Removes what the new manifest no longer names: older generations' directories and shared files no longer needed. */
async function pruneBackup(out: string, manifest: BackupManifest): Promise<void> {
  for (const d of staleGenerations(await readdir(out), manifest.generation)) await rm(join(out, d), { recursive: true, force: true });
  const keep = new Set(manifest.entries.map((e) => e.stored));
  const sharedRoot = join(out, 'shared');
  let files: string[] = [];
  try {
    files = await walkFiles(sharedRoot);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const f of files) if (!keep.has(`shared/${f}`)) await unlink(join(sharedRoot, f));
}

/**
 * Backs the archive in `dataDir` up into `out` (made 0700 if missing): the first time in full,
 * later only what changed (every database again; of the packs only new ones and the new tails
 * of grown ones). Safe beside a running service: it reads through SQLite's locking and copies
 * only bytes that never change. `key`: the databases' key (ADR 0035) when they are encrypted;
 * their copies are then made encrypted under it.
 */
export async function backupArchive(dataDir: string, out: string, clock: Clock = systemClock, hooks: BackupHooks = {}, key: Uint8Array | null = null): Promise<BackupReport> {
  const started = clock.now();
  const [data, target] = [resolve(dataDir), resolve(out)];
  if (target === data || target.startsWith(data + sep) || data.startsWith(target + sep)) {
    throw new MailsluiceError('CLI_USAGE', `backup --out ${out} must be outside the data directory ${dataDir} (and not hold it)`);
  }
  await previousBackup(out); // refuses a directory that is not a backup before anything is made in it
  await privateDir(out);
  await chmod(out, PRIVATE_DIR_MODE);
  const lock = lockBackupDir(out);
  try {
    return await backupLocked(dataDir, out, clock, started, hooks, key);
  } finally {
    lock.release();
  }
}

/** One backup at a time per directory (two would write one generation twice): the data directory's kind of lock, held by the kernel. */
function lockBackupDir(out: string): DataDirLock {
  try {
    return lockDataDir(out, 'backup');
  } catch (err) {
    if (!(err instanceof MailsluiceError) || err.code !== 'DATA_DIR_LOCKED') throw err;
    const pid = err.details?.holderPid;
    throw new MailsluiceError('BACKUP_IN_PROGRESS', `another backup${pid ? ` (pid ${String(pid)})` : ''} is writing ${out}: wait for it to end`, { cause: err });
  }
}

/** How long a backup waits for a reclaim run to end before it refuses (`PACKS_BUSY`). */
const BACKUP_WAITS_FOR_RECLAIM_MS = 10 * 60_000;

/** The databases (SQLite's backup API; `VACUUM INTO` when encrypted, ADR 0035) and then the blob files their refs reach. */
async function snapshotAndCopyBlobs(run: BackupRun, dataDir: string, hooks: BackupHooks, key: Uint8Array | null): Promise<void> {
  const included = (await walkFiles(dataDir)).map((path) => ({ path, policy: entryPolicy(path) }));
  // archive.db first: every other copy is judged against it.
  const databases = included.filter((f) => f.policy.include && f.policy.kind === 'database').map((f) => f.path);
  const ordered = ['archive.db', ...databases.filter((p) => p !== 'archive.db').sort()];
  const copies = new Map<string, string>();
  for (const path of ordered) copies.set(path, await run.database(path));
  const archiveCopy = copies.get('archive.db')!;
  const searchCopy = copies.get('search.db');
  if (searchCopy) trimSearchCopy(searchCopy, archiveCopy, key);
  for (const [path, dest] of copies) await run.hashDatabase(path, dest);
  await copyBlobs(run, join(dataDir, 'blobs'), () => blobRefsOf(archiveCopy, key), hooks);
}

async function backupLocked(dataDir: string, out: string, clock: Clock, started: number, hooks: BackupHooks, key: Uint8Array | null): Promise<BackupReport> {
  const previous = await previousBackup(out); // read again under the lock
  const generation = (previous?.generation ?? 0) + 1;
  await rm(join(out, generationDir(generation)), { recursive: true, force: true }); // a run stopped part way
  const run = new BackupRun(dataDir, out, generation, previous, key);
  const createdAt = new Date(clock.now()).toISOString();
  // From the metadata snapshot to the last pack copied, no reclaim run deletes a pack (ADR 0036).
  const hold = await takeReclaimLock(dataDir, 'shared', BACKUP_WAITS_FOR_RECLAIM_MS);
  if (!hold) throw new MailsluiceError('PACKS_BUSY', `packs in ${dataDir} are being rewritten (reclaiming space or encrypting) for longer than a backup waits: run it again later`);
  try {
    await snapshotAndCopyBlobs(run, dataDir, hooks, key);
  } finally {
    hold.release();
  }
  const included = (await walkFiles(dataDir)).map((path) => ({ path, policy: entryPolicy(path) }));
  for (const { path, policy } of included) {
    if (!policy.include || policy.kind === 'database' || path.startsWith('blobs/')) continue;
    try {
      if (policy.kind === 'file') await run.whole(path);
      else await run.sharedFile(path, (await stat(join(dataDir, path))).size);
    } catch (err) {
      // Gone since the walk (an audit archive file of a move that never committed, removed by
      // the service): not part of what the database copies describe.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  const manifest: BackupManifest = { format: BACKUP_FORMAT, createdAt, generation, entries: run.entries };
  // The new files' directory entries durable before the manifest names them.
  for (const dir of new Set(manifest.entries.map((e) => dirname(join(out, e.stored))))) await fsyncDirectory(dir);
  await writeFileAtomic(join(out, MANIFEST_FILE), manifestText(manifest), PRIVATE_FILE_MODE);
  await pruneBackup(out, manifest);
  return {
    out,
    generation,
    files: manifest.entries.length,
    bytes: manifest.entries.reduce((n, e) => n + e.size, 0),
    bytesCopied: run.bytesCopied,
    shared: run.shared,
    durationMs: clock.now() - started,
  };
}
