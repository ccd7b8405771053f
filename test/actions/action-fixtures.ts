/**
 * What the scenario-action tests share: a DeliveryContext over given raw bytes, a small set of
 * message attributes, a temporary directory for script modules written by the tests
 * (tsc does not copy .mjs fixtures to dist, so each test writes its module as text), and a
 * scripted SMTP server on loopback (the replies a real relay gives that the harness Dovecot's
 * LMTP cannot be made to give).
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessageAttributes } from '../../src/core/message/attributes.js';
import type { DeliveryContext } from '../../src/core/ports/scenario-action.js';

/** A DeliveryContext whose readRaw serves `raw` (or fails with `readError`), counting reads. */
export function deliveryContext(
  raw: Buffer,
  over: Partial<Omit<DeliveryContext, 'readRaw'>> & { readError?: Error } = {},
): DeliveryContext & { reads(): number } {
  let reads = 0;
  const { readError, ...fields } = over;
  return {
    route: 'r1',
    connection: 'journal',
    deliveryId: 'd-1',
    idempotencyKey: 'd-1:0',
    step: 0,
    attempt: 1,
    signal: new AbortController().signal,
    ...fields,
    readRaw: async () => {
      reads++;
      if (readError) throw readError;
      // A copy each time, as the archive hands out a fresh Buffer per read.
      return Buffer.from(raw);
    },
    reads: () => reads,
  };
}

/** Minimal message attributes with the given subject. */
export function attributes(subject: string): MessageAttributes {
  return {
    From: { Name: 'Alice', Address: 'alice@example.test' },
    To: [{ Name: '', Address: 'bob@example.test' }],
    Cc: [],
    Bcc: [],
    Subject: subject,
    ReceivedDate: '2026-01-01T00:00:00.000Z',
    GlobalMessageId: 'm1@example.test',
    InReplyTo: '',
    References: [],
    TextBody: 'hello',
    HtmlBody: '',
    Attachments: [],
    CustomHeaders: [{ Name: 'Subject', Value: subject, ListValues: [subject] }],
  };
}

/** A temporary directory for script modules; `write(name, source)` returns the absolute path. */
export interface ScriptDir {
  readonly dir: string;
  write(name: string, source: string): string;
  remove(): void;
}

/** Makes a {@link ScriptDir}. */
export function scriptDir(): ScriptDir {
  const dir = mkdtempSync(join(tmpdir(), 'mailsluice-scripts-'));
  // Scripts run as an unprivileged user when the tests run as root: like an operator's script
  // directory, this one is readable by everyone (mkdtemp makes it 0700).
  chmodSync(dir, 0o755);
  return {
    dir,
    write(name, source) {
      const path = join(dir, name);
      writeFileSync(path, source);
      return path;
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A CRLF message with the bytes SMTP/LMTP transport must not disturb. */
export function trickyMessage(tag: string): Buffer {
  return Buffer.concat([
    Buffer.from(
      [
        'From: "Ülrich Sender" <sender@example.test>',
        'To: someone@example.test',
        `Subject: forward test ${tag}`,
        'Date: Thu, 01 Jan 2026 00:00:00 +0000',
        `Message-ID: <${tag}@test.mailsluice.invalid>`,
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=iso-8859-1',
        'Content-Transfer-Encoding: 8bit',
        '',
        'A line starting with a dot follows (dot-stuffing must be undone):',
        '.',
        '..two dots',
        '.hidden',
        'Trailing spaces here:   ',
        'Tab\there.',
        '',
      ].join('\r\n'),
      'utf8',
    ),
    // 8-bit body bytes that are not UTF-8 (latin-1 "café") and a long line.
    Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0d, 0x0a]),
    Buffer.from('x'.repeat(900) + '\r\n'),
    Buffer.from('-- \r\nend\r\n'),
  ]);
}

/** A running {@link scriptedSmtp} server. */
export interface ScriptedSmtp {
  port: number;
  /** Every command line received, and the DATA payloads (dot-unstuffed, without the final dot). */
  lines: string[];
  data: Buffer[];
  close(): Promise<void>;
}

/** How a {@link scriptedSmtp} server replies; each default is a plain success. */
export interface ScriptedSmtpReplies {
  auth?: string;
  mail?: string;
  rcpt?: (to: string) => string;
  /** The reply to a message's end of DATA, or a function of the payload; null: never reply (a relay that hangs). */
  data?: string | ((payload: Buffer) => string | null);
}

/** An SMTP server on a free loopback port that answers every command as `reply` says and records what it got. */
export async function scriptedSmtp(reply: ScriptedSmtpReplies): Promise<ScriptedSmtp> {
  const lines: string[] = [];
  const data: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let inData = false;
    s.write('220 scripted ESMTP\r\n');
    s.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          const payload = Buffer.from(buf.subarray(0, end + 2).toString('latin1').replace(/^\.\./gm, '.'), 'latin1');
          data.push(payload);
          buf = buf.subarray(end + 5);
          inData = false;
          const answer = typeof reply.data === 'function' ? reply.data(payload) : (reply.data ?? '250 2.0.0 queued');
          if (answer !== null) s.write(`${answer}\r\n`);
          continue;
        }
        const eol = buf.indexOf('\r\n');
        if (eol < 0) return;
        const line = buf.subarray(0, eol).toString('latin1');
        buf = buf.subarray(eol + 2);
        lines.push(line);
        const verb = line.split(' ')[0]!.toUpperCase();
        if (verb === 'EHLO') s.write('250-scripted\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n');
        else if (verb === 'AUTH') s.write(`${reply.auth ?? '235 2.7.0 ok'}\r\n`);
        else if (verb === 'MAIL') s.write(`${reply.mail ?? '250 2.1.0 ok'}\r\n`);
        else if (verb === 'RCPT') s.write(`${reply.rcpt ? reply.rcpt(/<(.*)>/.exec(line)?.[1] ?? '') : '250 2.1.5 ok'}\r\n`);
        else if (verb === 'DATA') {
          inData = true;
          s.write('354 go ahead\r\n');
        } else if (verb === 'QUIT') {
          s.end('221 bye\r\n');
          return;
        } else s.write('250 ok\r\n');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return {
    port: addr.port,
    lines,
    data,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
