/**
 * The mechanics of reclaiming dead space in normal packs (ADR 0036): the survey of what each
 * pack holds live, the copy of a pack's live records to a new pack, and the deletes. Which packs,
 * and when, is the core's (`core/archive/pack-reclaim.ts`); the order of the steps and the switch
 * of the refs in the metadata are the app's (`app/reclaim-space.ts`). Each step's crash outcome:
 *
 * 1. Copy the live records into a new pack of this store's (`createPack`, `O_EXCL`), verbatim:
 *    an encrypted record carries its data key number and nonce and its GCM tag covers only its
 *    payload, so its ciphertext reads the same anywhere; a record in clear is encrypted on the way
 *    when asked. — The copy is a pack no row points at: the old state, and the next run deletes it.
 * 2. fdatasync the copy, close it, fsync the directory. — Same.
 * 3. Read every copy back through the store's own read (header and payload CRC, GCM tag,
 *    decompression, SHA-256). A failure removes the copy and leaves the pack as it is.
 * (4. The app switches the rows in one transaction: before its commit, the old state; after it,
 *    the new, and the old pack has no live ref left.)
 * 5. Delete the old pack and fsync the directory. — A pack with no live ref left is deleted by
 *    the next run if a crash came first. Pack ids are never used again: before a pack is
 *    deleted, the next id is written to `next-pack-id` (backups and other processes' descriptor
 *    caches know packs by name).
 */
import { open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { PackUsage } from '../../core/archive/pack-reclaim.js';
import type { LiveRef, PackCopy, PackRewriter, PackSurvey, RefMove } from '../../core/ports/pack-reclaim.js';
import { isMailsluiceError } from '../../core/errors/index.js';
import { fsyncDirectory } from '../fs-node/fsync-directory.js';
import type { FsBlobStore } from './fs-blob-store.js';
import { mapFsError } from './fs-error-map.js';
import { PACK_HEADER_SIZE, RECORD_HEADER_SIZE, decodeRecordHeader, encodeRecordHeader } from './pack-format.js';
import { PACK_FILE, formatFsBlobRef, packName, parseFsBlobRef, readFully, writeFully, corrupt } from './pack-io.js';
import type { FsBlobRef } from './pack-io.js';
import { sealPayload } from '../crypto-node/record-cipher.js';
import { REDIRECT_FILE } from './staging-redirect.js';
import type { Logger } from '../../core/ports/logger.js';

/** Records larger than this are read back through the stream (bounded memory) to be verified. */
const VERIFY_WHOLE_MAX = 16 * 1024 * 1024;
/** Copy chunk. */
const CHUNK = 1024 * 1024;

/** Steps a test can watch (and crash at). */
export type ReclaimCopyStep = 'copied' | 'synced' | 'verified';

/** The blob-fs {@link PackRewriter}. */
export class FsPackRewriter implements PackRewriter {
  constructor(
    private readonly store: FsBlobStore,
    private readonly logger: Logger,
    private readonly onStep?: (step: ReclaimCopyStep, pack: string) => void,
  ) {}

  get encrypting(): boolean {
    return this.store.keyring?.encrypting === true;
  }

  async redirected(refs: readonly LiveRef[]): Promise<RefMove[]> {
    const moves: RefMove[] = [];
    for (const r of refs) {
      const ref = parseFsBlobRef(r.ref);
      if (!ref.staging) continue;
      let to: FsBlobRef | null;
      try {
        to = await this.store.redirects.lookup(ref, true);
      } catch (err) {
        // A redirect without the row's record, or unreadable: damage verify reports; the row stays.
        if (!isMailsluiceError(err, 'STORE_NOT_FOUND') && !isMailsluiceError(err, 'STORE_CORRUPT')) throw err;
        this.logger.error('a row reads through a staging redirect that does not hold it; the row is left as it is', { ref: r.ref, error: err.message });
        continue;
      }
      if (to) moves.push({ sha256: r.sha256, from: r.ref, to: formatFsBlobRef(to), storedSize: to.storedSize });
    }
    return moves;
  }

  async dropRedirects(refs: readonly LiveRef[], before: number): Promise<number> {
    const dir = this.store.config.directory;
    const needed = new Set<number>();
    for (const r of refs) {
      const ref = parseFsBlobRef(r.ref);
      if (ref.staging) needed.add(ref.packId);
    }
    let dropped = 0;
    for (const name of await this.#names()) {
      const m = REDIRECT_FILE.exec(name);
      if (!m || needed.has(Number(m[1]))) continue;
      const path = join(dir, name);
      const st = await stat(path).catch(() => null);
      if (!st || st.mtimeMs >= before) continue;
      // Its staging pack must be gone: a redirect whose pack is still there is the compactor's, mid-way.
      if (await stat(this.store.packPath(Number(m[1]), true)).then(() => true, () => false)) continue;
      if (dropped === 0) await this.#recordNextId();
      await unlink(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw mapFsError(err, 'writing', path);
      });
      this.store.redirects.forget(Number(m[1]));
      dropped++;
    }
    if (dropped > 0) await this.#syncDir();
    return dropped;
  }

  async survey(refs: readonly LiveRef[], cipher: boolean): Promise<PackSurvey> {
    const names = await this.#names();
    const live = new Map<number, LiveRef[]>();
    for (const r of refs) {
      const ref = parseFsBlobRef(r.ref);
      if (ref.staging) continue;
      let list = live.get(ref.packId);
      if (!list) live.set(ref.packId, (list = []));
      list.push(r);
    }
    const redirected = await this.#redirectTargets(names);
    const writing = this.store.writingPacks();
    const packs: PackUsage[] = [];
    let totalBytes = 0;
    for (const name of names) {
      const m = PACK_FILE.exec(name);
      if (!m && !REDIRECT_FILE.test(name)) continue;
      const st = await stat(join(this.store.config.directory, name)).catch(() => null);
      if (!st) continue;
      totalBytes += st.size;
      if (!m || m[1] !== 'pack') continue;
      const packId = Number(m[2]);
      const mine = live.get(packId) ?? [];
      packs.push({
        packId,
        fileBytes: st.size,
        liveBytes: mine.reduce((n, r) => n + RECORD_HEADER_SIZE + parseFsBlobRef(r.ref).storedSize, 0),
        liveRecords: mine.length,
        plainRecords: cipher && mine.length > 0 ? await this.#plainCount(packId, mine) : 0,
        modifiedAt: st.mtimeMs,
        writing: writing.has(packId),
        redirected: redirected.has(packId),
      });
    }
    return { packs, live, totalBytes };
  }

  async copyLive(packId: number, live: readonly LiveRef[], encrypt: boolean): Promise<PackCopy | null> {
    const name = packName(packId);
    const sorted = [...live].sort((a, b) => parseFsBlobRef(a.ref).offset - parseFsBlobRef(b.ref).offset);
    const srcPath = this.store.packPath(packId);
    let src;
    try {
      src = await open(srcPath, 'r');
    } catch (err) {
      throw mapFsError(err, 'reading', srcPath);
    }
    const out = await this.store.createPack(false);
    const moves: RefMove[] = [];
    let encrypted = 0;
    let done = false;
    try {
      let pos = PACK_HEADER_SIZE;
      for (const l of sorted) {
        const from = parseFsBlobRef(l.ref);
        const copied = await this.#copyRecord(src, srcPath, from, l.sha256, out.fh, pos, encrypt);
        if (!copied) return null;
        if (copied.encrypted) encrypted++;
        moves.push({ sha256: l.sha256, from: l.ref, to: formatFsBlobRef({ packId: out.packId, offset: pos, storedSize: copied.storedSize }), storedSize: copied.storedSize });
        pos += RECORD_HEADER_SIZE + copied.storedSize;
      }
      this.onStep?.('copied', name);
      try {
        await out.fh.datasync();
      } catch (err) {
        throw mapFsError(err, 'syncing', out.path);
      }
      await out.fh.close();
      await this.#syncDir();
      this.onStep?.('synced', name);
      for (const m of moves) if (!(await this.#verified(m))) return null;
      this.onStep?.('verified', name);
      done = true;
      return { moves, vacated: `${name}:`, encrypted };
    } finally {
      await src.close().catch(() => undefined);
      await out.fh.close().catch(() => undefined);
      // A copy that is not used: nothing points at it.
      if (!done) await this.store.deletePackFile(out.packId, false).catch(() => undefined);
    }
  }

  async deletePack(packId: number): Promise<void> {
    await this.#recordNextId();
    await this.store.deletePackFile(packId, false);
  }

  /** One record from `src` at `from` to `fh` at `pos`; null when it is not the record of `sha256` it should be. */
  async #copyRecord(
    src: import('node:fs/promises').FileHandle,
    srcPath: string,
    from: FsBlobRef,
    sha256: string,
    fh: import('node:fs/promises').FileHandle,
    pos: number,
    encrypt: boolean,
  ): Promise<{ storedSize: number; encrypted: boolean } | null> {
    const head = Buffer.alloc(RECORD_HEADER_SIZE);
    const got = await readFully(src, head, RECORD_HEADER_SIZE, from.offset);
    const h = decodeRecordHeader(head.subarray(0, got));
    if (typeof h === 'string' || h.sha256 !== sha256 || h.storedSize !== from.storedSize) {
      this.#report(srcPath, from, typeof h === 'string' ? h : 'the record there is not the blob its row names');
      return null;
    }
    try {
      if (encrypt && h.encrypted !== true) {
        const payload = Buffer.alloc(h.storedSize);
        if ((await readFully(src, payload, h.storedSize, from.offset + RECORD_HEADER_SIZE)) !== h.storedSize) {
          this.#report(srcPath, from, 'the record is cut short');
          return null;
        }
        if (crc32(payload) >>> 0 !== h.payloadCrc) {
          this.#report(srcPath, from, 'its payload checksum does not match');
          return null;
        }
        const dk = await this.store.keyring!.sealKey();
        const sealed = sealPayload(dk!, [payload]);
        const storedSize = sealed.reduce((n, b) => n + b.length, 0);
        const crc = sealed.reduce((c, b) => crc32(b, c), 0);
        await writeFully(fh, [encodeRecordHeader({ ...h, storedSize, payloadCrc: crc, encrypted: true }), ...sealed], pos);
        return { storedSize, encrypted: true };
      }
      const total = RECORD_HEADER_SIZE + h.storedSize;
      const buf = Buffer.alloc(Math.min(CHUNK, total));
      for (let done = 0; done < total; ) {
        const n = await readFully(src, buf, Math.min(buf.length, total - done), from.offset + done);
        if (n === 0) {
          this.#report(srcPath, from, 'the record is cut short');
          return null;
        }
        await writeFully(fh, [buf.subarray(0, n)], pos + done);
        done += n;
      }
      return { storedSize: h.storedSize, encrypted: false };
    } catch (err) {
      if (isMailsluiceError(err)) throw err;
      throw mapFsError(err, 'writing', this.store.packPath(from.packId));
    }
  }

  /** Reads a copy back through the store's read (every check a read makes); false when it fails its check. */
  async #verified(m: RefMove): Promise<boolean> {
    const location = { ref: m.to, storedSize: m.storedSize };
    try {
      if (m.storedSize <= VERIFY_WHOLE_MAX) await this.store.read(location, m.sha256);
      else for await (const _ of this.store.stream(location)) void _;
      return true;
    } catch (err) {
      if (!isMailsluiceError(err, 'STORE_CORRUPT')) throw err;
      this.logger.error('a live blob fails its check; its pack is left as it is', { sha256: m.sha256, ref: m.from, error: err.message });
      return false;
    }
  }

  #report(path: string, ref: FsBlobRef, why: string): void {
    this.logger.error('a live blob cannot be copied; its pack is left as it is', { path, ref: formatFsBlobRef(ref), why });
  }

  /** How many of `refs` (all in pack `packId`) are stored in clear. */
  async #plainCount(packId: number, refs: readonly LiveRef[]): Promise<number> {
    const path = this.store.packPath(packId);
    const fh = await open(path, 'r').catch((err: unknown) => {
      throw mapFsError(err, 'reading', path);
    });
    try {
      let plain = 0;
      const head = Buffer.alloc(RECORD_HEADER_SIZE);
      for (const r of refs) {
        const got = await readFully(fh, head, RECORD_HEADER_SIZE, parseFsBlobRef(r.ref).offset);
        const h = decodeRecordHeader(head.subarray(0, got));
        if (typeof h === 'string') throw corrupt(`${r.ref}: ${h}`);
        if (h.encrypted !== true) plain++;
      }
      return plain;
    } finally {
      await fh.close();
    }
  }

  /** The packs some staging redirect on disk points into. */
  async #redirectTargets(names: string[]): Promise<Set<number>> {
    const out = new Set<number>();
    for (const name of names) {
      const m = REDIRECT_FILE.exec(name);
      if (!m) continue;
      for (const e of (await this.store.redirects.entries(Number(m[1]))) ?? []) out.add(e.to.packId);
    }
    return out;
  }

  async #names(): Promise<string[]> {
    try {
      return await readdir(this.store.config.directory);
    } catch (err) {
      throw mapFsError(err, 'reading', this.store.config.directory);
    }
  }

  async #syncDir(): Promise<void> {
    try {
      await fsyncDirectory(this.store.config.directory);
    } catch (err) {
      throw mapFsError(err, 'syncing', this.store.config.directory);
    }
  }

  /** Before a pack or redirect goes: the next pack id kept, so no id is ever used twice. */
  async #recordNextId(): Promise<void> {
    await this.store.recordNextPackId();
  }
}

