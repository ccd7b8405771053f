/**
 * fsync of a directory, so that an entry just made in it (a new file, a rename, a link) survives a
 * power cut: fsync of the file itself makes its data durable, not its name. One helper for every
 * module that makes files it must not lose (the blob store's packs, the API's URL key).
 */
import { open } from 'node:fs/promises';

/** Makes the entries of `dir` durable; throws the file system's error (ENOENT, EACCES, EIO, …). */
export async function fsyncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
