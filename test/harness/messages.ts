/**
 * Generated test mail: realistic journal traffic (mostly 4–30 KB text/HTML, some with
 * 200 KB–2 MB attachments), CRLF line endings, every message unique.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mailText } from './attachment-mail.js';

const WORDS = 'the quarterly report shows revenue growth across all regions while costs remained stable and the board approved'.split(' ');

function text(bytes: number, seed: number): string {
  const lines: string[] = [];
  let n = 0;
  let i = seed;
  while (n < bytes) {
    let line = '';
    while (line.length < 70) line += WORDS[(i++ * 7919) % WORDS.length] + ' ';
    lines.push(line.trimEnd());
    n += line.length + 2;
  }
  return lines.join('\r\n');
}

/** Options for {@link makeMessage}. */
export interface MakeMessageOptions {
  /** Approximate body size in bytes (text). */
  bodyBytes?: number;
  /** Attachment size in bytes (random binary, base64-encoded), 0 for none. */
  attachmentBytes?: number;
  /** Extra tag in the subject. */
  tag?: string;
}

/** One unique message as CRLF bytes. */
export function makeMessage(i: number, opts: MakeMessageOptions = {}): Buffer {
  const body = text(opts.bodyBytes ?? 4000, i);
  const id = `${i}.${randomBytes(6).toString('hex')}@test.mailsluice.invalid`;
  const head = [
    `From: "Sender ${i}" <sender${i}@example.test>`,
    `To: recipient${i % 17}@example.test, "Team" <team@example.test>`,
    `Subject: Report ${i}${opts.tag ? ` ${opts.tag}` : ''}`,
    `Date: ${new Date(Date.UTC(2026, 0, 1) + i * 60000).toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${id}>`,
    'MIME-Version: 1.0',
  ];
  const attachments = opts.attachmentBytes ? [{ name: `report-${i}.pdf`, type: 'application/pdf', bytes: randomBytes(opts.attachmentBytes) }] : [];
  return Buffer.from(mailText(head, body, attachments, `b${i}x${randomBytes(4).toString('hex')}`));
}

/**
 * A journal-like mix: sizes 4–30 KB, and every `attachmentEvery`-th message with a
 * 200 KB–2 MB attachment.
 */
export function* journalMix(count: number, attachmentEvery = 20, start = 0): Iterable<Buffer> {
  for (let i = start; i < start + count; i++) {
    const bodyBytes = 4000 + ((i * 2654435761) % 26000);
    const attachmentBytes = attachmentEvery > 0 && i % attachmentEvery === attachmentEvery - 1 ? 200_000 + ((i * 40503) % 1_800_000) : 0;
    yield makeMessage(i, { bodyBytes, attachmentBytes });
  }
}

/** Hex SHA-256. */
export function sha256(buf: Buffer | Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** The words a {@link wordedMessage} carries where encryption must hide them. */
export interface SecretWords {
  subject: string;
  /** Repeated to make the text body. */
  body: string;
  attachmentName: string;
  /** Repeated to make the attachment's content. */
  attachmentContent: string;
}

/**
 * A multipart message whose subject, text body, attachment name and attachment content each carry
 * one of `words`, numbered `i`, for tests that grep an archive for them. `large`: a body of some
 * 1.3 MB (`words.body` with "large" folded in by the caller), over the drain's stream threshold.
 * `idPrefix` keeps Message-IDs apart between tests.
 */
export function wordedMessage(i: number, words: SecretWords, opts: { large?: boolean; idPrefix?: string; bodyRepeat?: number; attachmentRepeat?: number } = {}): Buffer {
  const body = opts.large ? `${`${words.body} line ${i} `.repeat(40)}\r\n`.repeat(600) : `${words.body} ${i} `.repeat(opts.bodyRepeat ?? 30);
  return Buffer.from(
    [
      `From: "Sender ${i}" <s${i}@example.test>`,
      'To: archive@example.test',
      `Subject: ${words.subject} ${i}`,
      `Message-ID: <${opts.idPrefix ?? 'worded'}-${i}-${Date.now()}@example.test>`,
      'MIME-Version: 1.0',
      `Content-Type: multipart/mixed; boundary="b${i}"`,
      '',
      `--b${i}`,
      'Content-Type: text/plain; charset=utf-8',
      '',
      body,
      `--b${i}`,
      `Content-Type: text/plain; name="${words.attachmentName}-${i}.txt"`,
      `Content-Disposition: attachment; filename="${words.attachmentName}-${i}.txt"`,
      '',
      `${`${words.attachmentContent} `.repeat(opts.attachmentRepeat ?? 40)}${i}`,
      `--b${i}--`,
      '',
    ].join('\r\n'),
  );
}
