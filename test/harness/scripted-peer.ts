/**
 * The server side of one scripted connection, for protocol clients tested against servers that
 * say exactly what a test needs (test/pop3/pop3-garbage.test.ts, test/imap/imap-wire.test.ts):
 * the client's lines as they come, and writes whole, byte by byte or piece by piece.
 */
import type { Socket } from 'node:net';
import { setTimeout as sleep, setImmediate as tick } from 'node:timers/promises';

export class ScriptedPeer {
  private buf = '';
  private readonly lines: string[] = [];
  private readonly waiters: Array<(line: string | null) => void> = [];
  private ended = false;
  /** Every line the client sent, in order (latin1, CRLF stripped). */
  readonly received: string[] = [];

  constructor(readonly sock: Socket) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl).replace(/\r$/, '');
        this.buf = this.buf.slice(nl + 1);
        this.received.push(line);
        const w = this.waiters.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w(null);
    });
  }

  get closed(): boolean {
    return this.ended;
  }

  send(data: string | Buffer): void {
    this.sock.write(data);
  }

  /** Writes respecting the socket's back-pressure (so the server itself holds little memory). */
  async write(data: Buffer): Promise<void> {
    if (this.sock.write(data)) return;
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        this.sock.off('drain', done);
        this.sock.off('close', closed);
        resolve();
      };
      const closed = (): void => {
        this.sock.off('drain', done);
        reject(new Error('client went away during a write'));
      };
      this.sock.once('drain', done);
      this.sock.once('close', closed);
    });
  }

  /** One byte per TCP write (Nagle off), yielding to the event loop between bytes. */
  async sendBytewise(data: string | Buffer): Promise<void> {
    const b = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.sock.setNoDelay(true);
    for (let i = 0; i < b.length; i++) {
      this.sock.write(b.subarray(i, i + 1));
      await tick();
    }
  }

  /** Each piece its own TCP write, with a pause after it so the client reads it on its own. */
  async sendPieces(pieces: Array<string | Buffer>, pauseMs = 15): Promise<void> {
    this.sock.setNoDelay(true);
    for (const p of pieces) {
      this.sock.write(p);
      await sleep(pauseMs);
    }
  }

  /** The next line from the client, or null when it hung up. */
  next(): Promise<string | null> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Waits for a line matching `re` and fails the script otherwise. */
  async expect(re: RegExp): Promise<string> {
    const l = await this.next();
    if (l === null || !re.test(l)) throw new Error(`scripted server expected ${re} but got ${JSON.stringify(l)}`);
    return l;
  }



  close(): void {
    this.sock.end();
  }
}
