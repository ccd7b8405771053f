/**
 * What a path holds, and the message files of a Maildir or a folder of `.eml` files, in a stable
 * order (the order they are imported in and the watermark follows).
 */
import { open, readdir, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { MailsluiceError } from '../../core/errors/index.js';
import type { FilesFormat } from './files-source-config.js';
import { mapFilesError } from './files-error-map.js';

/**
 * The format of `path` when none is given: a file beginning with `From ` is an mbox, another file
 * ending in `.eml` one message; a folder with `cur/` or `new/` is a Maildir, another folder one of
 * `.eml` files (piler's `pilerexport` writes `<id>.eml` files into a folder; unzip its `-z` zips first).
 */
export async function detectFormat(path: string): Promise<FilesFormat> {
  const st = await stat(path).catch((err: unknown) => {
    throw mapFilesError(err, path);
  });
  if (st.isDirectory()) {
    const names = new Set(await readdir(path).catch((err: unknown) => Promise.reject(mapFilesError(err, path))));
    return names.has('cur') || names.has('new') ? 'maildir' : 'eml';
  }
  if (!st.isFile()) throw new MailsluiceError('IMPORT_SOURCE_INVALID', `${path} is neither a file nor a folder`);
  const fh = await open(path, 'r').catch((err: unknown) => Promise.reject(mapFilesError(err, path)));
  try {
    const head = Buffer.alloc(5);
    const { bytesRead } = await fh.read(head, 0, 5, 0);
    if (bytesRead === 5 && head.toString('latin1') === 'From ') return 'mbox';
  } finally {
    await fh.close();
  }
  if (path.toLowerCase().endsWith('.eml')) return 'eml';
  throw new MailsluiceError(
    'IMPORT_SOURCE_INVALID',
    `${path} does not begin with a "From " line, so it is not an mbox file, and its name does not end in .eml: give --format mbox or --format eml if it is one`,
  );
}

/** A message file found: its path, and what its source key says of it. */
export interface MessageFile {
  path: string;
  /** Stable within the source: the Maildir's unique name (flags after `:` left out), or the path below the folder. */
  id: string;
}

/** Byte order of names: fast and the same on every machine (a locale's collation is neither). */
const byName = (a: MessageFile, b: MessageFile): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The messages of a Maildir: the files of `new/` and `cur/` (not `tmp/`, still being written), by unique name. */
async function maildirFiles(dir: string): Promise<MessageFile[]> {
  const out: MessageFile[] = [];
  for (const sub of ['new', 'cur']) {
    const entries = await readdir(join(dir, sub), { withFileTypes: true }).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw mapFilesError(err, join(dir, sub));
    });
    for (const e of entries) {
      if (!e.isFile() || e.name.startsWith('.')) continue;
      const colon = e.name.indexOf(':');
      out.push({ path: join(dir, sub, e.name), id: colon === -1 ? e.name : e.name.slice(0, colon) });
    }
  }
  return out.sort(byName);
}

/** The `.eml` files below `dir`, recursively (hidden entries left out), by path below it. */
async function emlFiles(root: string): Promise<MessageFile[]> {
  const out: MessageFile[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch((err: unknown) => Promise.reject(mapFilesError(err, dir)));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && e.name.toLowerCase().endsWith('.eml')) out.push({ path: p, id: relative(root, p) });
    }
  };
  await walk(root);
  return out.sort(byName);
}

/** The message files of a Maildir, an `.eml` folder, or the one `.eml` file `path` is. */
export async function listMessageFiles(path: string, format: 'maildir' | 'eml'): Promise<MessageFile[]> {
  if (format === 'maildir') return maildirFiles(path);
  const st = await stat(path).catch((err: unknown) => Promise.reject(mapFilesError(err, path)));
  return st.isDirectory() ? emlFiles(path) : [{ path, id: basename(path) }];
}

/** A 31-bit FNV-1a hash of `parts`: the "UIDVALIDITY" of a listing, so a changed one starts the watermark over. */
export function listingHash(parts: Iterable<string>): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) {
      h ^= p.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    h ^= 0x0a;
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 1) || 1;
}
