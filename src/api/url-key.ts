/**
 * The key that signs attachment URLs: `api-url.key` in the data directory, 32 random bytes,
 * readable by the service's user only. Made on first use and kept: URLs handed out before a
 * restart must still verify after it, so the key lives with the archive (and its backups), not
 * in memory or in the configuration file.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { MailsluiceError } from '../core/errors/index.js';
import { URL_KEY_BYTES } from './signed-url.js';
import { fsyncDirectory } from '../adapters/fs-node/fsync-directory.js';
import { PRIVATE_DIR_MODE } from '../adapters/fs-node/private-files.js';

/** The key file's name in the data directory. */
export const URL_KEY_FILE = 'api-url.key';

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? String(err);
}

async function readKey(file: string): Promise<Buffer> {
  const key = await readFile(file);
  if (key.length !== URL_KEY_BYTES) {
    throw new MailsluiceError('API_URL_KEY_UNUSABLE', `${file} holds ${key.length} bytes, not the ${URL_KEY_BYTES} of a URL signing key: restore it, or delete it to make a new one (URLs signed with the old one then stop working)`);
  }
  return key;
}

/**
 * The key in `dataDir`, made first if there is none. Safe against another process making it at
 * the same moment (`drain` beside `start`): the key is written whole to a file of its own and
 * linked into place, which fails if the name exists, so both end up with the same key and nobody
 * ever reads a half-written one. Throws `API_URL_KEY_UNUSABLE`.
 */
export async function loadOrCreateUrlKey(dataDir: string): Promise<{ key: Buffer; created: boolean }> {
  const file = join(dataDir, URL_KEY_FILE);
  try {
    return { key: await readKey(file), created: false };
  } catch (err) {
    if (err instanceof MailsluiceError) throw err;
    if (errnoOf(err) !== 'ENOENT') throw new MailsluiceError('API_URL_KEY_UNUSABLE', `cannot read ${file} (${errnoOf(err)})`, { cause: err });
  }
  const tmp = join(dataDir, `${URL_KEY_FILE}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let created = true;
  try {
    await mkdir(dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
    // 0600: the key is a credential for every attachment in the archive.
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(randomBytes(URL_KEY_BYTES));
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, file);
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
      created = false; // another process made it first: use that one
    }
    await fsyncDirectory(dataDir);
  } catch (err) {
    throw new MailsluiceError('API_URL_KEY_UNUSABLE', `cannot create ${file} (${errnoOf(err)})`, { cause: err });
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  try {
    return { key: await readKey(file), created };
  } catch (err) {
    if (err instanceof MailsluiceError) throw err;
    throw new MailsluiceError('API_URL_KEY_UNUSABLE', `cannot read ${file} (${errnoOf(err)})`, { cause: err });
  }
}
