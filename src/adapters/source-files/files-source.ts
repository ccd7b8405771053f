/**
 * `FilesSource` (`MailboxSource`): the messages of an mbox file, a Maildir or a folder of `.eml`
 * files, for `mailsluice import`. It is drained by the same runner and cycle as a mailbox (so an
 * import has the drain's durability, dedup, group commit, watermark and resumption), with these
 * differences from a server:
 *
 * - keys: `mbox:<file>:<offset of its From line>`, `maildir:<dir>:<unique name>`,
 *   `eml:<folder>:<path below it>`; the UID the watermark follows is the From line's offset + 1
 *   (mbox) or the place in the sorted listing + 1; the "UIDVALIDITY" is the mbox file's identity
 *   (device and inode) or a hash of the listing, so a rewritten file or a changed folder starts
 *   the watermark over (what was imported is still recognised, by key or by content hash).
 * - the server action is always `leave`: nothing in the source is changed or removed.
 * - an item that is not a message (text before an mbox's first `From ` line, a `From ` line with
 *   nothing after it, an empty file, a first line that is not a header) is told to `onProblem`
 *   with its file and offset and skipped; the rest goes on.
 * - a message up to `FILES_TUNING.bufferedUpToBytes` is read whole, a few ahead; a larger one is
 *   streamed in chunks (an mbox's `From ` quoting undone as it streams).
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { Candidate, FetchedMessage, MailboxSource, SourceSession } from '../../core/ports/mailbox-source.js';
import type { Logger } from '../../core/ports/logger.js';
import { MailsluiceError } from '../../core/errors/index.js';
import { FILES_TUNING, type FilesSourceOptions, type MboxVariant } from './files-source-config.js';
import { mapFilesError } from './files-error-map.js';
import { isHeaderLine, scanMbox, unquote, Unquoter, type MboxIndex } from './mbox-reader.js';
import { listingHash, listMessageFiles, type MessageFile } from './files-listing.js';

const LF = 0x0a;

/** Where a listed message's bytes are. */
interface Place {
  file: string;
  /** mbox: the offset of its `From ` line; a file: 0. */
  start: number;
  /** mbox: just past its last byte; a file: unknown until it is opened (-1). */
  end: number;
}

/** A message read ahead: whole, the first piece of a streamed one, skipped, or a failure to throw. */
type Read =
  | { kind: 'whole'; bytes: Buffer }
  | { kind: 'stream'; fh: FileHandle; first: Buffer; next: number; end: number }
  | { kind: 'skip' }
  | { kind: 'error'; error: unknown };

/** The files source; a fresh instance per session, as every source. */
export class FilesSource implements MailboxSource {
  /** Nothing is done on "the server": the action may run beside the next read. */
  readonly concurrentActions = true;
  private readonly variant: MboxVariant;
  private mboxHandle: FileHandle | null = null;
  private index: MboxIndex | null = null;
  private files: MessageFile[] = [];
  private uidValidity = 1;
  /** Listed keys and where their bytes are. */
  private readonly places = new Map<string, Place>();
  /** Keys found not to be messages in this session: not listed again (the watermark then passes them). */
  private readonly broken = new Set<string>();
  private closed = false;

  constructor(
    private readonly options: FilesSourceOptions,
    private readonly logger: Logger,
  ) {
    this.variant = options.mbox ?? 'mboxrd';
  }

  async open(): Promise<SourceSession> {
    const { path, format } = this.options;
    if (format === 'mbox') {
      const fh = await open(path, 'r').catch((err: unknown) => Promise.reject(mapFilesError(err, path)));
      this.mboxHandle = fh;
      const st = await fh.stat();
      if (!st.isFile()) throw new MailsluiceError('IMPORT_SOURCE_INVALID', `${path} is not a file, so not an mbox`);
      this.index = await scanMbox(fh, st.size, FILES_TUNING.streamChunkBytes);
      if (this.index.starts.length === 0) {
        throw new MailsluiceError('IMPORT_SOURCE_INVALID', `${path} holds no "From " line at the start of the file or after an empty line, so it is not an mbox file`);
      }
      const first = this.index.starts[0]!;
      if (first > 0) this.problem(path, 0, `${first} bytes before the first "From " line (at byte ${first}) belong to no message`);
      this.uidValidity = listingHash([`${st.dev}:${st.ino}`]);
      return { mailbox: path, uidValidity: this.uidValidity, exists: this.index.starts.length, capabilities: [] };
    }
    this.files = await listMessageFiles(path, format);
    this.uidValidity = listingHash(this.files.map((f) => f.id));
    return { mailbox: path, uidValidity: this.uidValidity, exists: this.files.length, capabilities: [] };
  }

  async listCandidates(limit: number, after?: { uidValidity: number; lastUid: number }): Promise<Candidate[]> {
    const above = after && after.uidValidity === this.uidValidity ? after.lastUid : 0;
    const out: Candidate[] = [];
    const { path, format } = this.options;
    if (this.index) {
      const { starts, ends } = this.index;
      for (let i = firstAbove(starts, above - 1); i < starts.length && out.length < limit; i++) {
        const key = `mbox:${path}:${starts[i]}`;
        if (this.broken.has(key)) continue;
        this.places.set(key, { file: path, start: starts[i]!, end: ends[i]! });
        out.push({ key, uid: starts[i]! + 1, size: 0 });
      }
      return out;
    }
    for (let i = above; i < this.files.length && out.length < limit; i++) {
      const f = this.files[i]!;
      const key = `${format}:${path}:${f.id}`;
      if (this.broken.has(key)) continue;
      this.places.set(key, { file: f.path, start: 0, end: -1 });
      out.push({ key, uid: i + 1, size: 0 });
    }
    return out;
  }

  async *fetch(candidates: Candidate[]): AsyncIterable<FetchedMessage> {
    const pending: Array<{ candidate: Candidate; read: Promise<Read> }> = [];
    let next = 0;
    const fill = (): void => {
      while (pending.length < FILES_TUNING.readAhead && next < candidates.length) {
        const candidate = candidates[next++]!;
        pending.push({ candidate, read: this.read(candidate) });
      }
    };
    try {
      fill();
      while (pending.length > 0) {
        const { candidate, read } = pending.shift()!;
        const r = await read;
        if (r.kind === 'error') throw r.error;
        if (r.kind === 'skip') {
          fill();
          continue;
        }
        if (r.kind === 'whole') {
          fill();
          yield { candidate, body: single(r.bytes), buffered: true, bytes: r.bytes.length, owned: true };
        } else {
          // A streamed body is read to its end before the next is asked for; reads ahead go on meanwhile.
          fill();
          yield { candidate, body: this.stream(r), buffered: false };
        }
      }
    } finally {
      // Reads ahead that were not handed over (the cycle stopped early) release their files.
      for (const p of pending) void p.read.then((r) => (r.kind === 'stream' && r.fh !== this.mboxHandle ? r.fh.close() : undefined)).catch(() => undefined);
    }
  }

  /** Reads one listed message (never rejects: a failure is returned, to be thrown in order). */
  private async read(c: Candidate): Promise<Read> {
    const place = this.places.get(c.key);
    if (!place) return { kind: 'error', error: new MailsluiceError('INTERNAL', `fetch of ${c.key}, which this source did not list`) };
    try {
      return this.index ? await this.readMbox(c.key, place) : await this.readFile(c.key, place);
    } catch (err) {
      return { kind: 'error', error: mapFilesError(err, place.file) };
    }
  }

  /** One message of the mbox: the bytes after its `From ` line, unquoted, whole or as a stream. */
  private async readMbox(key: string, place: Place): Promise<Read> {
    const fh = this.mboxHandle!;
    const length = place.end - place.start;
    const whole = length <= FILES_TUNING.bufferedUpToBytes;
    const head = Buffer.allocUnsafeSlow(whole ? length : FILES_TUNING.streamChunkBytes);
    const { bytesRead } = await fh.read(head, 0, head.length, place.start);
    const got = head.subarray(0, bytesRead);
    const eol = got.indexOf(LF);
    if (eol === -1 || eol + 1 >= place.end - place.start) return this.skip(key, place.file, place.start, 'a "From " line with no message after it');
    const body = got.subarray(eol + 1);
    if (!isHeaderLine(firstLine(body))) return this.skip(key, place.file, place.start, 'the line after the "From " line is not a header field, so this is not a message');
    if (whole) return { kind: 'whole', bytes: unquote(body, this.variant) };
    return { kind: 'stream', fh, first: body, next: place.start + bytesRead, end: place.end };
  }

  /** One message file: whole when small, else its first piece and the open file to stream from. */
  private async readFile(key: string, place: Place): Promise<Read> {
    let fh: FileHandle;
    try {
      fh = await open(place.file, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        // Removed since it was listed, as a message another client expunged: skipped, not an error.
        this.logger.warn('a listed file is gone; skipped', { file: place.file });
        return { kind: 'skip' };
      }
      if (code === 'EACCES' || code === 'EISDIR' || code === 'ELOOP') return this.skip(key, place.file, 0, `cannot be read (${code})`);
      throw err;
    }
    let handedOver = false;
    try {
      const st = await fh.stat();
      if (!st.isFile()) return this.skip(key, place.file, 0, 'not a regular file');
      if (st.size === 0) return this.skip(key, place.file, 0, 'an empty file');
      const whole = st.size <= FILES_TUNING.bufferedUpToBytes;
      const head = Buffer.allocUnsafeSlow(whole ? st.size : FILES_TUNING.streamChunkBytes);
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      const got = bytesRead === head.length ? head : head.subarray(0, bytesRead);
      if (!isHeaderLine(firstLine(got))) return this.skip(key, place.file, 0, 'its first line is not a header field, so this is not a message');
      if (whole) return { kind: 'whole', bytes: got };
      handedOver = true;
      return { kind: 'stream', fh, first: got, next: bytesRead, end: st.size };
    } finally {
      if (!handedOver) await fh.close();
    }
  }

  /** The rest of a large message, a chunk at a time (an mbox's quoting undone as it goes). */
  private async *stream(r: Extract<Read, { kind: 'stream' }>): AsyncIterable<Uint8Array> {
    const unq = this.index ? new Unquoter(this.variant) : null;
    try {
      yield unq ? unq.push(r.first) : r.first;
      for (let pos = r.next; pos < r.end; ) {
        const buf = Buffer.allocUnsafeSlow(Math.min(FILES_TUNING.streamChunkBytes, r.end - pos));
        const { bytesRead } = await r.fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) throw new MailsluiceError('IMPORT_SOURCE_INVALID', `${this.options.path} ended at byte ${pos} while a message was read: was it truncated meanwhile?`);
        pos += bytesRead;
        const piece = bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
        yield unq ? unq.push(piece) : piece;
      }
      if (unq) yield unq.end();
    } catch (err) {
      throw mapFilesError(err, this.options.path);
    } finally {
      if (r.fh !== this.mboxHandle) await r.fh.close();
    }
  }

  /** Reports `key` as not a message and leaves it out from here on. */
  private skip(key: string, file: string, offset: number, reason: string): Read {
    this.broken.add(key);
    this.problem(file, offset, reason);
    return { kind: 'skip' };
  }

  private problem(file: string, offset: number, reason: string): void {
    this.logger.error('not a message; skipped', { file, offset, reason });
    this.options.onProblem?.({ file, offset, reason });
  }

  /** Nothing is changed in the source: every action is complete at once. */
  async applyServerAction(candidates: Candidate[]): Promise<Candidate[]> {
    return candidates;
  }

  async flush(): Promise<Candidate[]> {
    return [];
  }

  /** Files do not announce new mail: the wait is only a pause (an import runs once). */
  async waitForChange(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, Math.min(ms, 2_147_483_647));
      function done(): void {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.mboxHandle?.close().catch(() => undefined);
    this.mboxHandle = null;
  }
}

/** `b` as a body of one chunk. */
async function* single(b: Buffer): AsyncIterable<Uint8Array> {
  yield b;
}

/** The first line of `b` (at most its first 1,000 bytes: a header line is shorter). */
function firstLine(b: Buffer): Buffer {
  const eol = b.indexOf(LF);
  return b.subarray(0, eol === -1 ? Math.min(b.length, 1000) : Math.min(eol, 1000));
}

/** The index of the first of `sorted` above `x`. */
function firstAbove(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** A files source for one session (the runner builds one per connect). */
export function createFilesSource(options: FilesSourceOptions, logger: Logger): FilesSource {
  return new FilesSource(options, logger);
}
