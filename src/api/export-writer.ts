/**
 * An export's bytes (issue 17, item 2; docs/export.md), written by the API's export
 * (`routes/export.ts`) and by `mailsluice export` without a service (`app/export.ts`) alike, from
 * the messages an export selection lists (`core/archive/export-selection.ts`), each message's
 * bytes streamed from the blob store and hashed as they pass, so a message is never held whole
 * and a stored copy that does not hash to its `ArchiveId` stops the export (`STORE_CORRUPT`).
 *
 * - `mbox` (mboxrd): each message after a `From ` line, its lines that begin with `>*From `
 *   given one more `>`, a blank line after it (and a newline first when it ends without one).
 * - `zip`: `<sha256>.eml` per message, stored as it is (so the SHA-256 of each file is its name),
 *   then `manifest.jsonl`: a first line saying what was asked, one line per message (its file,
 *   `sha256`/`archiveId`, id, size, source, received and Date header, Message-ID), and a last line
 *   with the counts and `manifestSha256`, the SHA-256 of every byte of the manifest before it.
 *   The same bytes taken by two connections are one file and two manifest lines.
 *
 * Memory: one message's chunks in flight, plus, for a zip, what its central directory and the
 * manifest need per message until the end (yazl keeps an entry per file; the manifest's lines are
 * written last): about a kilobyte a message, measured in docs/export.md.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import yazl from 'yazl';
import { MailsluiceError } from '../core/errors/index.js';
import type { ExportItem } from '../core/ports/archive-reader.js';
import type { BlobStore } from '../core/ports/blob-store.js';
import { MANIFEST_NAME, MANIFEST_VERSION } from '../core/archive/export-selection.js';

/** What an export is asked to write. */
export type ExportFormat = 'mbox' | 'zip';

/** What an export wrote, known once its stream has ended. */
export interface ExportTotals {
  /** Messages written (manifest lines; mbox entries). */
  messages: number;
  /** Files in the zip (distinct messages); for mbox, `messages`. */
  files: number;
  /** Raw bytes of the messages written. */
  bytes: number;
  /** The SHA-256 of the manifest before its last line (zip only). */
  manifestSha256?: string;
}

/** An export being written: read `stream`; `totals()` is final once it has ended. */
export interface ExportOutput {
  stream: Readable;
  totals(): ExportTotals;
}

export { MANIFEST_NAME, MANIFEST_VERSION };

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The `From ` line of a message: its sender's address (or MAILER-DAEMON) and its date in asctime form, UTC. */
export function fromLine(hit: { from: string; date: string | null }): string {
  const address = /<([^<>\s]+)>/.exec(hit.from)?.[1] ?? (/^[^\s<>]+@[^\s<>]+$/.test(hit.from) ? hit.from : 'MAILER-DAEMON');
  const d = new Date(hit.date ?? 0);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  const when = `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
  return `From ${address} ${when}\n`;
}

const FROM = 'From ';

/**
 * mboxrd quoting of one message as its chunks pass: a line (after a `\n`, or the first) that
 * begins with `>*From ` gets one more `>`; nothing else changes. Only the start of a line that a
 * chunk cut before it could be decided is carried to the next chunk.
 */
export class MboxrdQuoter {
  private carry = '';
  private atLineStart = true;

  /** The quoted bytes of `chunk` that can be written now. */
  push(chunk: Uint8Array): Buffer {
    // latin1 maps each byte to one character and back, so no other byte changes.
    const s = this.carry + Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');
    this.carry = '';
    const out: string[] = [];
    let i = 0;
    while (i < s.length) {
      if (this.atLineStart) {
        let j = i;
        while (j < s.length && s.charCodeAt(j) === 0x3e) j++; // '>'
        const rest = s.slice(j, j + FROM.length);
        if (rest.length < FROM.length && FROM.startsWith(rest) && !s.includes('\n', i)) {
          this.carry = s.slice(i); // `>>Fro` at a chunk's end: undecided until the next
          break;
        }
        if (rest === FROM) out.push('>');
        this.atLineStart = false;
      }
      const nl = s.indexOf('\n', i);
      if (nl < 0) {
        out.push(s.slice(i));
        break;
      }
      out.push(s.slice(i, nl + 1));
      i = nl + 1;
      this.atLineStart = true;
    }
    return Buffer.from(out.join(''), 'latin1');
  }

  /** The end of the message: what was carried, and a newline when it did not end with one. */
  end(endedWithNewline: boolean): Buffer {
    const tail = this.carry + (endedWithNewline && this.carry === '' ? '' : '\n');
    this.carry = '';
    this.atLineStart = true;
    return Buffer.from(tail, 'latin1');
  }
}

/** One message as an mboxrd entry, whole: `From ` line, quoted lines, blank line. */
export function mboxEntry(hit: { from: string; date: string | null }, raw: Buffer): Buffer {
  const q = new MboxrdQuoter();
  const body = q.push(raw);
  return Buffer.concat([Buffer.from(fromLine(hit), 'latin1'), body, q.end(raw.length > 0 && raw[raw.length - 1] === 0x0a), Buffer.from('\n')]);
}

/** A message's bytes from the blob store, hashed as they pass: a copy that is not its `ArchiveId` fails at its end. */
async function* verifiedBytes(blobs: Pick<BlobStore, 'stream'>, item: ExportItem): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of blobs.stream(item.blob, item.sha256)) {
    const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    hash.update(b);
    size += b.length;
    yield b;
  }
  if (size !== item.size || hash.digest('hex') !== item.sha256) {
    throw new MailsluiceError('STORE_CORRUPT', `message ${item.sha256} read back as other bytes than it was archived as; the export stops (run mailsluice verify)`);
  }
}

/** The manifest line of one message. */
export function manifestLine(item: ExportItem): string {
  return JSON.stringify({
    file: `${item.sha256}.eml`,
    sha256: item.sha256,
    archiveId: item.sha256,
    id: item.id,
    size: item.size,
    connection: item.connection,
    mailbox: item.mailbox,
    receivedAt: new Date(item.takenAt).toISOString(),
    date: item.date,
    messageId: item.messageId,
  }) + '\n';
}

/** What the first line of the manifest says of the export. */
export interface ExportHeader {
  /** What was asked (the query and filters), as recorded on the audit log. */
  query: Record<string, unknown>;
  /** When the export began, ISO 8601. */
  createdAt: string;
}

function mbox(items: AsyncIterable<ExportItem>, blobs: Pick<BlobStore, 'stream'>, totals: ExportTotals): Readable {
  async function* entries(): AsyncGenerator<Buffer> {
    const q = new MboxrdQuoter();
    for await (const item of items) {
      yield Buffer.from(fromLine({ from: item.from, date: item.date ?? new Date(item.takenAt).toISOString() }), 'latin1');
      let last = -1;
      for await (const chunk of verifiedBytes(blobs, item)) {
        if (chunk.length > 0) last = chunk[chunk.length - 1]!;
        yield q.push(chunk);
      }
      yield Buffer.concat([q.end(last === 0x0a), Buffer.from('\n')]);
      totals.messages++;
      totals.files++;
      totals.bytes += item.size;
    }
  }
  // Byte mode with a mark of 1: the generator is asked for more only once what it gave was taken.
  return Readable.from(entries(), { objectMode: false, highWaterMark: 1 });
}

function zip(items: AsyncIterable<ExportItem>, blobs: Pick<BlobStore, 'stream'>, header: ExportHeader, totals: ExportTotals): Readable {
  const file = new yazl.ZipFile();
  const out = file.outputStream as Readable;
  const manifest: string[] = [];
  const hash = createHash('sha256');
  const line = (text: string): void => {
    manifest.push(text);
    hash.update(text);
  };
  line(JSON.stringify({ mailsluiceExport: MANIFEST_VERSION, query: header.query, createdAt: header.createdAt }) + '\n');
  const seen = new Set<string>();
  const trim = entryTrim(file);
  const it = items[Symbol.asyncIterator]();
  const fail = (err: unknown): void => {
    out.destroy(err instanceof Error ? err : new Error(String(err)));
  };
  file.on('error', fail);
  // The next message is taken from the selection only when the zip starts writing the one before,
  // so the selection is read as the export is, not ahead of it.
  const addNext = (): void => {
    it.next().then((r) => {
      if (r.done) {
        const sum = manifestSha(hash);
        totals.manifestSha256 = sum;
        manifest.push(JSON.stringify({ end: true, messages: totals.messages, files: totals.files, bytes: totals.bytes, manifestSha256: sum }) + '\n');
        // Stored, as the messages are: a reader finds it by offset, and it is small beside them.
        trim.restore();
        file.addBuffer(Buffer.from(manifest.join('')), MANIFEST_NAME, { mtime: new Date(header.createdAt), compress: false });
        manifest.length = 0;
        file.end();
        return;
      }
      const item = r.value;
      line(manifestLine(item));
      totals.messages++;
      totals.bytes += item.size;
      if (seen.has(item.sha256)) return addNext(); // the same bytes from another connection: one file
      seen.add(item.sha256);
      totals.files++;
      file.addReadStreamLazy(`${item.sha256}.eml`, { compress: false, size: item.size, mtime: new Date(item.takenAt) }, (cb) => {
        trim.setAside();
        const stream = Readable.from(verifiedBytes(blobs, item), { objectMode: false, highWaterMark: 1 });
        stream.once('error', fail);
        cb(null, stream);
        addNext();
      });
    }, fail);
  };
  addNext();
  return out;
}

/** What this writer touches of a yazl 3 entry (`ZipFile.entries`): see {@link entryTrim}. */
interface YazlEntry {
  utf8FileName: Buffer;
  doFileDataPump?: unknown;
}

/**
 * Keeps yazl's list of entries short while the zip is written, and what a written entry keeps
 * small. yazl looks for the next entry to write from the start of its list at every step, which
 * makes a zip of n files cost n² (50,000 files: 52 s, most of it that scan); and each entry keeps
 * its name as a slice of Node's shared 8 KiB buffer pool, which holds a whole pool slab alive per
 * entry once other allocations came between (about 7 KB a file). The entries already written are
 * set aside (their name copied out of the pool, the closure that read their bytes dropped) and put
 * back, in order, before the central directory is written from the list at `end()`. Without the
 * internals (another yazl), nothing is done: the zip is the same, only slower and larger in memory.
 */
function entryTrim(file: yazl.ZipFile): { setAside(): void; restore(): void } {
  const z = file as unknown as { entries?: YazlEntry[] };
  const aside: YazlEntry[] = [];
  const usable = Array.isArray(z.entries);
  return {
    // Called when yazl starts an entry: every one before it in the list is written.
    setAside() {
      if (!usable || z.entries!.length < 2) return;
      for (const e of z.entries!.splice(0, z.entries!.length - 1)) {
        const name = new Uint8Array(e.utf8FileName); // its own ArrayBuffer, not a pool slab
        e.utf8FileName = Buffer.from(name.buffer, 0, name.byteLength);
        e.doFileDataPump = undefined;
        aside.push(e);
      }
    },
    restore() {
      if (usable) z.entries = aside.concat(z.entries!);
      aside.length = 0;
    },
  };
}

function manifestSha(hash: ReturnType<typeof createHash>): string {
  return hash.digest('hex');
}

/**
 * Writes the export of `items` as `format`, each message read from `blobs` as the stream's
 * reader takes the bytes before it. A failure (a message that cannot be read) destroys the stream
 * with the error: the export is then incomplete and must not be kept.
 */
export function writeExport(format: ExportFormat, items: AsyncIterable<ExportItem>, blobs: Pick<BlobStore, 'stream'>, header: ExportHeader): ExportOutput {
  const totals: ExportTotals = { messages: 0, files: 0, bytes: 0 };
  const stream = format === 'mbox' ? mbox(items, blobs, totals) : zip(items, blobs, header, totals);
  return { stream, totals: () => ({ ...totals }) };
}
