/**
 * What the scenario-action tests share: a DeliveryContext over given raw bytes, a small set of
 * message attributes, and a temporary directory for script modules written by the tests
 * (tsc does not copy .mjs fixtures to dist, so each test writes its module as text).
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
