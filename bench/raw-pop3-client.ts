/**
 * A minimal POP3 client of our own for the benchmark's POP3 "raw limit": plain TCP (node:net),
 * no library, no parsing beyond finding where each response ends.
 *
 * It does the least a POP3 drain can do: USER/PASS, then for every message RETR (the bytes are
 * counted and dropped: only the end marker CRLF.CRLF is looked for, across read boundaries) and
 * DELE, one command at a time as RFC 1939 clients do, and QUIT (where the server removes what
 * was deleted) after every 500 or once at the end, whichever the bench asks for. Memory stays at the socket's read buffer whatever the message size.
 */
import type { Socket } from 'node:net';
import { connectRaw } from './raw-socket.js';
import { once } from 'node:events';

/** Counts of a {@link rawPop3Drain} run. */
export interface RawPop3Result {
  messages: number;
  /** Message bytes received (the RETR payloads, end marker and status line excluded). */
  bytes: number;
  /** Milliseconds from connect to QUIT's +OK (the server has then removed every message). */
  totalMs: number;
}

const END = Buffer.from('\r\n.\r\n');

type Waiter = { multi: boolean; resolve: (bytes: number) => void; reject: (e: Error) => void };

class RawPop3 {
  private waiter: Waiter | null = null;
  /** Status-line bytes until CRLF (single-line mode, or the first line of a multi-line reply). */
  private line = '';
  private inBody = false;
  private bodyBytes = 0;
  /** The last 4 bytes seen in a body, so an end marker split over two reads is still found. */
  private tail = Buffer.alloc(0);
  private failure: Error | null = null;

  constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('POP3 connection closed')));
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const w = this.waiter;
    this.waiter = null;
    w?.reject(e);
  }

  onData(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && this.waiter) {
      if (!this.inBody) {
        const nl = chunk.indexOf(0x0a, pos);
        if (nl < 0) {
          this.line += chunk.toString('latin1', pos);
          return;
        }
        this.line += chunk.toString('latin1', pos, nl);
        pos = nl + 1;
        const status = this.line;
        this.line = '';
        if (!status.startsWith('+OK')) {
          this.fail(new Error(`POP3 server answered: ${status.trim()}`));
          return;
        }
        if (!this.waiter.multi) {
          this.done(0);
          continue;
        }
        this.inBody = true;
        this.bodyBytes = 0;
        // The body starts right after the status line, so a marker may begin with its CRLF.
        this.tail = Buffer.from('\r\n');
        continue;
      }
      const joined = this.tail.length ? Buffer.concat([this.tail, chunk.subarray(pos, pos + Math.min(chunk.length - pos, 8))]) : null;
      let end = -1;
      if (joined) {
        const i = joined.indexOf(END);
        if (i >= 0) end = pos + (i + END.length - this.tail.length);
      }
      if (end < 0) {
        const i = chunk.indexOf(END, pos);
        if (i >= 0) end = i + END.length;
      }
      if (end < 0) {
        this.bodyBytes += chunk.length - pos;
        const keep = Math.min(4, chunk.length - pos);
        this.tail = Buffer.from(chunk.subarray(chunk.length - keep));
        return;
      }
      this.bodyBytes += end - pos;
      pos = end;
      this.inBody = false;
      this.tail = Buffer.alloc(0);
      // Counted without the ".\r\n" of the marker: what the message itself holds (still stuffed).
      this.done(Math.max(0, this.bodyBytes - 3));
    }
  }

  private done(bytes: number): void {
    const w = this.waiter;
    this.waiter = null;
    w?.resolve(bytes);
  }

  /** Sends a command (or nothing, for the greeting) and waits for its reply. */
  send(cmd: string | null, multi = false): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    const p = new Promise<number>((resolve, reject) => (this.waiter = { multi, resolve, reject }));
    if (cmd !== null) this.socket.write(`${cmd}\r\n`);
    return p;
  }
}

/** One logged-in session. */
async function login(opts: { host: string; port: number; username: string; password: string }): Promise<{ client: RawPop3; socket: Socket }> {
  let client: RawPop3 | null = null;
  const socket = connectRaw(opts.host, opts.port, (chunk) => client?.onData(chunk));
  client = new RawPop3(socket);
  const greeting = client.send(null);
  await once(socket, 'connect');
  await greeting;
  await client.send(`USER ${opts.username}`);
  await client.send(`PASS ${opts.password}`);
  return { client, socket };
}

/**
 * Logs in and RETRs + DELEs the messages one command at a time; QUIT after every `batch`
 * deletions (where the server removes them) and log in again, like the IMAP raw client's
 * expunge per 500. `batch` 0: one session, one QUIT at the end.
 */
export async function rawPop3Drain(opts: { host: string; port: number; username: string; password: string; count: number; batch?: number }): Promise<RawPop3Result> {
  const started = performance.now();
  const batch = opts.batch && opts.batch > 0 ? opts.batch : opts.count;
  let bytes = 0;
  for (let done = 0; done < opts.count; ) {
    const { client, socket } = await login(opts);
    // Each session numbers what is left from 1.
    const n = Math.min(batch, opts.count - done);
    for (let i = 1; i <= n; i++) {
      bytes += await client.send(`RETR ${i}`, true);
      await client.send(`DELE ${i}`);
    }
    await client.send('QUIT');
    socket.destroy();
    done += n;
  }
  return { messages: opts.count, bytes, totalMs: performance.now() - started };
}
