/**
 * Redirect records: where the compactor put the records of a staging pack it rewrote (ADR 0018).
 * Metadata rows keep the ref the drain's `put` returned (`stage-<id>:<offset>:<size>`); once the
 * staging pack is compacted, `stage-<id>.redirect` maps each of its record offsets to the ref of
 * the compressed copy, and the store reads through it. It is written to a temporary file,
 * fsynced, renamed into place and the directory fsynced — durable and whole — before the staging
 * pack is deleted, and it is never deleted itself.
 *
 * Format (little-endian): magic "MSLRDIR1", u32 entry count, u32 staging pack id, then per entry
 * the staged offset, staged stored size, target pack id, target offset and target stored size
 * (u64 each) and the SHA-256 (32 bytes), then a CRC-32 of everything before it.
 */
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { MailsluiceError } from '../../core/errors/index.js';
import { fsyncDirectory } from '../fs-node/fsync-directory.js';
import { PRIVATE_FILE_MODE } from '../fs-node/private-files.js';
import { mapFsError } from './fs-error-map.js';
import { corrupt, formatFsBlobRef, packName } from './pack-io.js';
import type { FsBlobRef } from './pack-io.js';

/** A redirect file's name. */
export const REDIRECT_FILE = /^stage-(\d{8,})\.redirect$/;
/** A redirect file being written (left only by a crash; deleted by the next compactor run). */
export const REDIRECT_TEMP_FILE = /^stage-(\d{8,})\.redirect\.tmp$/;

const MAGIC = Buffer.from('MSLRDIR1', 'latin1');
const HEAD = 16;
const ENTRY = 72;
/** Redirect tables kept in memory (each is one staging pack's, ~1,000 entries at most). */
const MAX_CACHED = 64;

/** One record of a compacted staging pack and where its copy lives. */
export interface RedirectEntry {
  /** Offset of the staged record (the ref's offset). */
  offset: number;
  /** Its stored size (the ref's storedSize). */
  storedSize: number;
  sha256: string;
  /** The compressed copy. */
  to: FsBlobRef;
}

/** Path of the redirect file of staging pack `packId`. */
export function redirectPath(directory: string, packId: number): string {
  return join(directory, `${packName(packId, true)}.redirect`);
}

/** Encodes a redirect file. */
export function encodeRedirect(packId: number, entries: RedirectEntry[]): Buffer {
  const b = Buffer.alloc(HEAD + entries.length * ENTRY + 4);
  MAGIC.copy(b, 0);
  b.writeUInt32LE(entries.length, 8);
  b.writeUInt32LE(packId, 12);
  entries.forEach((e, i) => {
    const at = HEAD + i * ENTRY;
    [e.offset, e.storedSize, e.to.packId, e.to.offset, e.to.storedSize].forEach((n, k) => b.writeBigUInt64LE(BigInt(n), at + k * 8));
    Buffer.from(e.sha256, 'hex').copy(b, at + 40);
  });
  b.writeUInt32LE(crc32(b.subarray(0, b.length - 4)) >>> 0, b.length - 4);
  return b;
}

/** Decodes a redirect file (STORE_CORRUPT if it is not a whole one of `packId`), by staged offset. */
export function decodeRedirect(b: Buffer, packId: number, path: string): Map<number, RedirectEntry> {
  const bad = (why: string): MailsluiceError => corrupt(`redirect file ${path} ${why}`);
  if (b.length < HEAD + 4 || !b.subarray(0, 8).equals(MAGIC)) throw bad('has no redirect header');
  const count = b.readUInt32LE(8);
  if (b.length !== HEAD + count * ENTRY + 4) throw bad(`is ${b.length} bytes, not the ${HEAD + count * ENTRY + 4} of ${count} entries`);
  if (b.readUInt32LE(b.length - 4) !== crc32(b.subarray(0, b.length - 4)) >>> 0) throw bad('fails its checksum');
  if (b.readUInt32LE(12) !== packId) throw bad(`belongs to staging pack ${b.readUInt32LE(12)}`);
  const out = new Map<number, RedirectEntry>();
  for (let i = 0; i < count; i++) {
    const at = HEAD + i * ENTRY;
    const [offset, storedSize, toPack, toOffset, toSize] = [0, 1, 2, 3, 4].map((k) => Number(b.readBigUInt64LE(at + k * 8))) as [number, number, number, number, number];
    out.set(offset, { offset, storedSize, sha256: b.subarray(at + 40, at + 72).toString('hex'), to: { packId: toPack, offset: toOffset, storedSize: toSize } });
  }
  return out;
}

/** Writes the redirect file of staging pack `packId` durably: temporary file, fsync, rename, directory fsync. */
export async function writeRedirect(directory: string, packId: number, entries: RedirectEntry[]): Promise<void> {
  const path = redirectPath(directory, packId);
  const temp = `${path}.tmp`;
  try {
    const fh = await open(temp, 'w', PRIVATE_FILE_MODE);
    try {
      await fh.writeFile(encodeRedirect(packId, entries));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw mapFsError(err, 'writing', path);
  }
  try {
    await fsyncDirectory(directory);
  } catch (err) {
    throw mapFsError(err, 'syncing', directory);
  }
}

/**
 * The redirect tables of one store directory: which staging packs are known to be compacted, and
 * the tables of the most recently used ones. Another store on the same directory (the dispatch
 * thread's, a reading command's) learns of a compaction when a staging pack it reads is gone.
 */
export class Redirects {
  readonly #known = new Set<number>();
  /** Insertion order is recency order. */
  readonly #tables = new Map<number, Map<number, RedirectEntry>>();

  constructor(private readonly directory: string) {}

  /** Staging pack `packId` has a redirect file (seen in the directory, or just written). */
  know(packId: number, entries?: RedirectEntry[]): void {
    this.#known.add(packId);
    if (entries) this.#remember(packId, new Map(entries.map((e) => [e.offset, e])));
  }

  /** The entries of staging pack `packId`'s redirect, or null when it has none (ADR 0036: the packs redirects read into). */
  async entries(packId: number): Promise<RedirectEntry[] | null> {
    const table = await this.#table(packId);
    return table ? [...table.values()] : null;
  }

  /** Staging pack `packId`'s redirect was deleted (no row reads through it any more, ADR 0036). */
  forget(packId: number): void {
    this.#known.delete(packId);
    this.#tables.delete(packId);
  }

  /** Whether staging pack `packId` has a redirect file (looked for on disk when not known). */
  async exists(packId: number): Promise<boolean> {
    return (await this.#table(packId)) !== null;
  }

  /**
   * Where the staged record `ref` lives now, or null when its pack is not compacted (as far as
   * this store knows; `fromDisk` looks for the redirect file even so). A compacted pack's redirect
   * that lacks the record is STORE_NOT_FOUND: no committed ref can point there.
   */
  async lookup(ref: FsBlobRef, fromDisk = false): Promise<FsBlobRef | null> {
    if (!fromDisk && !this.#known.has(ref.packId)) return null;
    const table = await this.#table(ref.packId);
    if (!table) return null;
    const staged = formatFsBlobRef({ ...ref, staging: true });
    const e = table.get(ref.offset);
    if (!e) throw new MailsluiceError('STORE_NOT_FOUND', `${staged}: its staging pack was compacted and held no record at offset ${ref.offset}`);
    if (e.storedSize !== ref.storedSize) throw corrupt(`${staged}: the compacted staging pack's record at offset ${ref.offset} stored ${e.storedSize} bytes`);
    return e.to;
  }

  /** The table of `packId`, loaded if needed; null when it has no redirect file. */
  async #table(packId: number): Promise<Map<number, RedirectEntry> | null> {
    const hit = this.#tables.get(packId);
    if (hit) {
      this.#remember(packId, hit);
      return hit;
    }
    const path = redirectPath(this.directory, packId);
    let raw: Buffer;
    try {
      raw = await readFile(path);
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return null;
      throw mapFsError(err, 'reading', path);
    }
    const table = decodeRedirect(raw, packId, path);
    this.#known.add(packId);
    this.#remember(packId, table);
    return table;
  }

  #remember(packId: number, table: Map<number, RedirectEntry>): void {
    this.#tables.delete(packId);
    this.#tables.set(packId, table);
    while (this.#tables.size > MAX_CACHED) {
      const [oldest] = this.#tables.keys();
      if (oldest === undefined) break;
      this.#tables.delete(oldest);
    }
  }
}
