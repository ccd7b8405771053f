/**
 * A minimal IMAP client of our own for the benchmark's "raw limit": plain TCP (node:net), no
 * library, no parsing beyond what is needed to find the end of each response.
 *
 * It reads the server's stream with a small state machine: in line mode it collects bytes up to
 * CRLF; a line ending in a literal announcement `{n}` (or `{n+}`) switches to literal mode, in
 * which the next n bytes are counted and dropped without being copied, then line mode continues
 * the same response. Memory is therefore bounded by the longest non-literal line (a FETCH
 * response's prefix, a SEARCH result), never by message size: a 100 MB message passes through
 * as a count.
 *
 * It is deliberately the least work a drain can do, so mailsluice's time can be compared with
 * the server's own cost (fetching, flagging, expunging) and nothing else.
 */
import type { Socket } from 'node:net';
import { connectRaw } from './raw-socket.js';
import { once } from 'node:events';

/** What a command's tagged completion carried, plus what streamed past while it ran. */
export interface CommandResult {
  /** `OK`, `NO` or `BAD`. */
  status: string;
  /** The rest of the tagged line. */
  text: string;
  /** Literals received while the command ran (one per message for `BODY.PEEK[]`). */
  literals: number;
  /** Bytes in those literals. */
  literalBytes: number;
  /** Untagged lines (without literals), kept only when the command asked for them. */
  untagged: string[];
}

interface Pending {
  tag: string;
  keepUntagged: boolean;
  result: CommandResult;
  resolve: (r: CommandResult) => void;
  reject: (e: Error) => void;
}

/** Counts of a {@link RawImapClient.drain} run. */
export interface RawDrainResult {
  messages: number;
  bytes: number;
  /** Milliseconds spent in FETCH commands only (from sending to the tagged OK). */
  fetchMs: number;
  /** Milliseconds spent in UID STORE + UID EXPUNGE. */
  deleteMs: number;
}

const CRLF = 0x0a;
/** A line longer than this without a literal means the stream is not IMAP; stop instead of growing. */
const MAX_LINE_BYTES = 16 * 1024 * 1024;

/** A sequence set ("1:5,7,9:12") of sorted UIDs. */
export function uidSet(uids: readonly number[]): string {
  const parts: string[] = [];
  let i = 0;
  while (i < uids.length) {
    const start = uids[i]!;
    let end = start;
    while (i + 1 < uids.length && uids[i + 1] === end + 1) end = uids[++i]!;
    parts.push(start === end ? String(start) : `${start}:${end}`);
    i++;
  }
  return parts.join(',');
}

/**
 * One IMAP connection: LOGIN, SELECT, FETCH, STORE, EXPUNGE, one command at a time.
 * Use {@link RawImapClient.open} to connect.
 */
export class RawImapClient {
  /** Line-mode bytes of the current line, as chunks (joined only at CRLF). */
  private lineParts: Buffer[] = [];
  private lineLength = 0;
  /** Literal bytes still to skip; > 0 means literal mode. */
  private literalLeft = 0;
  private pending: Pending | null = null;
  private greeting: ((line: string) => void) | null = null;
  private seq = 0;
  private failure: Error | null = null;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('IMAP connection closed')));
  }

  /** Connects, waits for the greeting, logs in with LOGIN and selects the mailbox. */
  static async open(opts: { host: string; port: number; username: string; password: string; mailbox?: string }): Promise<RawImapClient> {
    let client: RawImapClient | null = null;
    // onData copies what it keeps (line tails): the bytes are valid only during the call.
    const socket = connectRaw(opts.host, opts.port, (chunk) => client?.onData(chunk));
    client = new RawImapClient(socket);
    const greeted = new Promise<string>((resolve) => (client.greeting = resolve));
    await once(socket, 'connect');
    const g = await greeted;
    if (!g.startsWith('* OK')) throw new Error(`unexpected IMAP greeting: ${g}`);
    await client.ok(`LOGIN ${quote(opts.username)} ${quote(opts.password)}`);
    await client.ok(`SELECT ${quote(opts.mailbox ?? 'INBOX')}`);
    return client;
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    const p = this.pending;
    this.pending = null;
    p?.reject(err);
  }

  /** Consumes bytes read from the socket: literal bytes are skipped, lines are assembled. Internal. */
  onData(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.literalLeft > 0) {
        const take = Math.min(this.literalLeft, chunk.length - pos);
        this.literalLeft -= take;
        if (this.pending) this.pending.result.literalBytes += take;
        pos += take;
        continue;
      }
      const nl = chunk.indexOf(CRLF, pos);
      if (nl < 0) {
        // Copy: the socket may reuse the chunk's memory, and this tail is small.
        this.lineParts.push(Buffer.from(chunk.subarray(pos)));
        this.lineLength += chunk.length - pos;
        if (this.lineLength > MAX_LINE_BYTES) this.fail(new Error('IMAP line too long'));
        return;
      }
      const part = chunk.subarray(pos, nl + 1);
      const line = this.lineParts.length === 0 ? part : Buffer.concat([...this.lineParts, part]);
      this.lineParts = [];
      this.lineLength = 0;
      pos = nl + 1;
      this.onLine(line);
    }
  }

  /** Handles one physical line (up to CRLF), which may end in a literal announcement. */
  private onLine(buf: Buffer): void {
    // Literal announcement: `{123}\r\n` or the non-synchronising `{123+}\r\n` at the very end.
    let end = buf.length - 1;
    if (end > 0 && buf[end - 1] === 0x0d) end--;
    if (buf[end - 1] === 0x7d /* } */) {
      let i = end - 2;
      if (buf[i] === 0x2b /* + */) i--;
      let n = 0;
      let mul = 1;
      let digits = 0;
      while (i >= 0 && buf[i]! >= 0x30 && buf[i]! <= 0x39) {
        n += (buf[i]! - 0x30) * mul;
        mul *= 10;
        digits++;
        i--;
      }
      if (digits > 0 && buf[i] === 0x7b /* { */) {
        if (this.pending) this.pending.result.literals++;
        this.literalLeft = n;
        // The response continues after the literal; its prefix is not needed.
        return;
      }
    }
    const line = buf.toString('latin1', 0, end);
    if (this.greeting) {
      const g = this.greeting;
      this.greeting = null;
      g(line);
      return;
    }
    const p = this.pending;
    if (!p) return;
    if (line.startsWith(`${p.tag} `)) {
      const rest = line.slice(p.tag.length + 1);
      const sp = rest.indexOf(' ');
      p.result.status = sp < 0 ? rest : rest.slice(0, sp);
      p.result.text = sp < 0 ? '' : rest.slice(sp + 1);
      this.pending = null;
      p.resolve(p.result);
    } else if (p.keepUntagged && line.startsWith('* ')) {
      p.result.untagged.push(line);
    }
  }

  /** Sends one command and resolves at its tagged completion, whatever its status. */
  command(cmd: string, keepUntagged = false): Promise<CommandResult> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending) return Promise.reject(new Error('one command at a time'));
    const tag = `b${++this.seq}`;
    return new Promise<CommandResult>((resolve, reject) => {
      this.pending = { tag, keepUntagged, resolve, reject, result: { status: '', text: '', literals: 0, literalBytes: 0, untagged: [] } };
      this.socket.write(`${tag} ${cmd}\r\n`);
    });
  }

  /** Like {@link command} but rejects unless the server answers OK. */
  async ok(cmd: string, keepUntagged = false): Promise<CommandResult> {
    const r = await this.command(cmd, keepUntagged);
    if (r.status !== 'OK') throw new Error(`IMAP ${cmd.split(' ')[0]} failed: ${r.status} ${r.text}`);
    return r;
  }

  /** Every UID in the selected mailbox, ascending. */
  async uids(): Promise<number[]> {
    const r = await this.ok('UID SEARCH ALL', true);
    const out: number[] = [];
    for (const line of r.untagged) {
      if (!line.startsWith('* SEARCH')) continue;
      for (const t of line.slice(8).trim().split(' ')) if (t) out.push(Number(t));
    }
    return out.sort((a, b) => a - b);
  }

  /**
   * Fetch-only: `UID FETCH 1:* BODY.PEEK[]` in one command, every literal read and dropped.
   * Leaves the mailbox as it was.
   */
  async fetchAll(): Promise<RawDrainResult> {
    const t0 = performance.now();
    const r = await this.ok('UID FETCH 1:* BODY.PEEK[]');
    return { messages: r.literals, bytes: r.literalBytes, fetchMs: performance.now() - t0, deleteMs: 0 };
  }

  /**
   * The raw drain: per batch of `batch` UIDs, `UID FETCH set BODY.PEEK[]`, then
   * `UID STORE set +FLAGS.SILENT (\Deleted)` and `UID EXPUNGE set`, then the next batch;
   * one command at a time, no pipelining (the same order of work a drain must follow: a message
   * is removed only after it has been received).
   */
  async drain(batch = 500): Promise<RawDrainResult> {
    const all = await this.uids();
    const res: RawDrainResult = { messages: 0, bytes: 0, fetchMs: 0, deleteMs: 0 };
    for (let i = 0; i < all.length; i += batch) {
      const set = uidSet(all.slice(i, i + batch));
      const t0 = performance.now();
      const f = await this.ok(`UID FETCH ${set} BODY.PEEK[]`);
      const t1 = performance.now();
      await this.ok(`UID STORE ${set} +FLAGS.SILENT (\\Deleted)`);
      await this.ok(`UID EXPUNGE ${set}`);
      res.deleteMs += performance.now() - t1;
      res.fetchMs += t1 - t0;
      res.messages += f.literals;
      res.bytes += f.literalBytes;
    }
    return res;
  }

  /** LOGOUT and close. */
  async close(): Promise<void> {
    try {
      if (!this.failure) await this.command('LOGOUT');
    } catch {
      // the server may close before the tagged reply; nothing is lost either way
    }
    this.socket.destroy();
  }
}

/** An IMAP quoted string. */
function quote(s: string): string {
  return `"${s.replace(/["\\]/g, '\\$&')}"`;
}
