/**
 * The archive's files are readable by their owner only (issue 12, item 11): mail, attachment
 * references, delivery logs and the API's URL key are as sensitive as the mailboxes they came
 * from. Every module that creates something in the data directory does it through these helpers
 * so that all do it alike. A mode given at creation is narrowed by the umask, never widened, so
 * 0700/0600 hold whatever the umask; files a library creates itself (SQLite makes a new database
 * 0644 minus the umask) are made here first, empty and 0600, and SQLite gives its `-wal`, `-shm`
 * and `-journal` files the mode of their database.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { chmod, lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Directories in the data directory: owner only. */
export const PRIVATE_DIR_MODE = 0o700;
/** Files in the data directory: owner read and write only. */
export const PRIVATE_FILE_MODE = 0o600;

/** Makes `dir` and any missing parents with mode 0700; returns the first one made, if any. */
export function makePrivateDirSync(dir: string): string | undefined {
  return mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/**
 * Creates `file` empty with mode 0600 when it does not exist (an existing file is left as it
 * is), so that a library which creates the file with its own mode (SQLite) finds it private.
 */
export function ensurePrivateFileSync(file: string): void {
  closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
}

/**
 * Writes `data` to a new `file` with mode 0600 and fsyncs it; an existing file is never
 * overwritten (EEXIST, thrown as is for the caller to name). For files whose loss or
 * replacement would be worse than a refusal: master keys and their escrow parts.
 */
export async function writeNewPrivateFile(file: string, data: Uint8Array | string): Promise<void> {
  const fh = await open(file, 'wx', PRIVATE_FILE_MODE);
  try {
    // The umask may only narrow the mode; chmod says it outright all the same.
    await fh.chmod(PRIVATE_FILE_MODE);
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** One path {@link tightenTree} changed, with its mode before. */
export interface Tightened {
  path: string;
  from: number;
}

/**
 * Takes group and other permissions away from `dir` and everything under it (directories 0700,
 * files 0600 where they were wider; symbolic links are neither followed nor changed), for data
 * directories an older version made 0755 with 0644 files. Returns what it changed.
 */
export async function tightenTree(dir: string): Promise<Tightened[]> {
  const changed: Tightened[] = [];
  const visit = async (path: string): Promise<void> => {
    let st;
    try {
      st = await lstat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // removed meanwhile (a temp file)
      throw err;
    }
    if (st.isSymbolicLink()) return;
    const mode = st.mode & 0o777;
    if (st.isDirectory()) {
      if (mode & 0o077) {
        await chmod(path, mode & PRIVATE_DIR_MODE);
        changed.push({ path, from: mode });
      }
      for (const name of await readdir(path)) await visit(join(path, name));
    } else if (mode & 0o077) {
      await chmod(path, mode & PRIVATE_FILE_MODE);
      changed.push({ path, from: mode });
    }
  };
  await visit(dir);
  return changed;
}
