/**
 * The file work backup and restore share (ADR 0032): byte ranges copied with their SHA-256
 * computed on the way, durably and owner-only (files 0600, directories 0700, whatever the umask),
 * and the walk of a data directory.
 */
import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, readdir, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../adapters/fs-node/private-files.js';

/** Bytes read and written per step: large enough for sequential disk speed, small in memory. */
const CHUNK = 1 << 20;

/** Makes `dir` and its missing parents 0700. */
export async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/** Feeds bytes `[from, to)` of `fh` to `hash`, and to `sink` when given. */
async function pump(fh: FileHandle, from: number, to: number, hash: Hash, sink?: (b: Buffer, at: number) => Promise<void>): Promise<void> {
  const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(1, to - from)));
  let at = from;
  while (at < to) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, to - at), at);
    if (bytesRead === 0) throw Object.assign(new Error(`ends at ${at}, before the ${to} bytes needed`), { code: 'ESHORT' });
    const chunk = buf.subarray(0, bytesRead);
    hash.update(chunk);
    if (sink) await sink(chunk, at);
    at += bytesRead;
  }
}

/** What a copy did. */
export interface Copied {
  /** SHA-256 (hex) of the file's first `length` bytes. */
  sha256: string;
  /** The bytes copied from the start of the file. */
  size: number;
  /** Bytes written by this copy. */
  written: number;
}

/**
 * Copies the first `length` bytes of `source` to `dest` (0600, created or replaced), synced. With
 * `append`, `dest` already holds the first `append.from` bytes: the source's are hashed and must
 * give `append.sha256`, then only the rest is written (null when they differ: copy it whole).
 */
export async function copyPrefix(source: string, dest: string, length: number | 'all', append?: { from: number; sha256: string }): Promise<Copied | null> {
  await privateDir(dirname(dest));
  const src = await open(source, 'r');
  try {
    // 'all': the file as opened (one replaced by a rename meanwhile is read whole, old or new).
    const end = length === 'all' ? (await src.stat()).size : length;
    const hash = createHash('sha256');
    let start = 0;
    if (append) {
      await pump(src, 0, append.from, hash);
      if (hash.copy().digest('hex') !== append.sha256) return null;
      start = append.from;
    }
    const out = await open(dest, append ? 'r+' : 'w', PRIVATE_FILE_MODE);
    try {
      // A backup stopped part way may have appended past what its manifest names.
      if (append) await out.truncate(start);
      await pump(src, start, end, hash, async (b, at) => {
        await out.write(b, 0, b.length, at);
      });
      await out.sync();
    } finally {
      await out.close();
    }
    return { sha256: hash.digest('hex'), size: end, written: end - start };
  } finally {
    await src.close();
  }
}

/** SHA-256 (hex) of the first `length` bytes of `file`. */
export async function hashPrefix(file: string, length: number): Promise<string> {
  const fh = await open(file, 'r');
  try {
    const hash = createHash('sha256');
    await pump(fh, 0, length, hash);
    return hash.digest('hex');
  } finally {
    await fh.close();
  }
}

/** Every regular file under `root`, as `/`-separated paths relative to it (sockets and links left out). */
export async function walkFiles(root: string, under = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(root, under), { withFileTypes: true })) {
    const rel = under ? `${under}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walkFiles(root, rel)));
    else if (e.isFile()) out.push(rel);
  }
  return out;
}
