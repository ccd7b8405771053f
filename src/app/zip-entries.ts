/**
 * The entries of a zip file as the API's export writes it (`api/routes/export.ts`, yazl: stored,
 * sizes in the central directory, zip64 past 65,535 entries or 4 GiB), read from the file's
 * central directory: what `mailsluice export` unpacks into `<sha256>.eml` files when a running
 * service made the zip (ADR 0025). Only what that writer makes is read: whether an entry is
 * stored is said (its `manifest.json` is compressed, its messages are not); no zip is refused.
 */
import type { FileHandle } from 'node:fs/promises';
import { MailsluiceError } from '../core/errors/index.js';

/** One stored entry: its name and where its bytes are in the file. */
export interface ZipEntry {
  name: string;
  /** Offset of its first byte in the file. */
  start: number;
  size: number;
  /** Stored as it is (neither compressed nor encrypted): only such an entry's bytes are `start`..`size`. */
  stored: boolean;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
/** The end record and the longest comment it may have. */
const TAIL = 22 + 0xffff;

function bad(what: string): MailsluiceError {
  return new MailsluiceError('INTERNAL', `the export the service sent is no zip this build can read: ${what}`);
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  if (bytesRead !== length) throw bad('it ends early');
  return buf;
}

/** Where the central directory is, and how many entries it has. */
async function centralDirectory(fh: FileHandle, fileSize: number): Promise<{ offset: number; size: number; count: number }> {
  const from = Math.max(0, fileSize - TAIL);
  const tail = await readAt(fh, from, fileSize - from);
  let at = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD) {
      at = i;
      break;
    }
  }
  if (at < 0) throw bad('no end of central directory');
  let count = tail.readUInt16LE(at + 10);
  let size = tail.readUInt32LE(at + 12);
  let offset = tail.readUInt32LE(at + 16);
  if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    const loc = at - 20;
    if (loc < 0 || tail.readUInt32LE(loc) !== ZIP64_LOCATOR) throw bad('no zip64 locator');
    const z = await readAt(fh, Number(tail.readBigUInt64LE(loc + 8)), 56);
    if (z.readUInt32LE(0) !== ZIP64_EOCD) throw bad('no zip64 end of central directory');
    count = Number(z.readBigUInt64LE(32));
    size = Number(z.readBigUInt64LE(40));
    offset = Number(z.readBigUInt64LE(48));
  }
  return { offset, size, count };
}

/** The stored entries of the zip open as `fh`, in the order of its central directory. */
export async function zipEntries(fh: FileHandle): Promise<ZipEntry[]> {
  const fileSize = (await fh.stat()).size;
  const cd = await centralDirectory(fh, fileSize);
  const dir = await readAt(fh, cd.offset, cd.size);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let n = 0; n < cd.count; n++) {
    if (dir.readUInt32LE(p) !== CENTRAL) throw bad('a central directory entry is damaged');
    const flags = dir.readUInt16LE(p + 8);
    const method = dir.readUInt16LE(p + 10);
    let compressed = dir.readUInt32LE(p + 20);
    let size = dir.readUInt32LE(p + 24);
    const nameLen = dir.readUInt16LE(p + 28);
    const extraLen = dir.readUInt16LE(p + 30);
    const commentLen = dir.readUInt16LE(p + 32);
    let local = dir.readUInt32LE(p + 42);
    const name = dir.toString('utf8', p + 46, p + 46 + nameLen);
    // zip64: the values set to all ones are in the extra field 0x0001, in this order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = dir.readUInt16LE(e);
      const len = dir.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) (size = Number(dir.readBigUInt64LE(q)), (q += 8));
        if (compressed === 0xffffffff) (compressed = Number(dir.readBigUInt64LE(q)), (q += 8));
        if (local === 0xffffffff) local = Number(dir.readBigUInt64LE(q));
      }
      e += 4 + len;
    }
    const head = await readAt(fh, local, 30);
    if (head.readUInt32LE(0) !== LOCAL) throw bad(`the entry of ${name} is damaged`);
    entries.push({ name, start: local + 30 + head.readUInt16LE(26) + head.readUInt16LE(28), size, stored: method === 0 && (flags & 1) === 0 && compressed === size });
    p = extraEnd + commentLen;
  }
  return entries;
}
