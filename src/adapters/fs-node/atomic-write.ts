/**
 * Replacing a file so that a crash or power cut leaves either the old content or the new, never
 * a torn mix: a temporary file in the same directory (a rename is atomic only within one file
 * system), written and fsynced, renamed over the file, then the directory fsynced so the rename
 * itself survives. The configuration file edited through the API and the secret store are
 * written this way (ADR 0023).
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fsyncDirectory } from './fsync-directory.js';

/**
 * Writes `data` to `file` atomically with permission bits `mode` (set explicitly, so the umask
 * does not narrow a mode the caller kept from the file it replaces). Throws the file system's
 * error; the temporary file is removed on failure.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode: number): Promise<void> {
  const dir = dirname(file);
  const temp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fh;
  try {
    fh = await open(temp, 'wx', mode);
    await fh.chmod(mode);
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(temp, file);
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await fsyncDirectory(dir);
}
