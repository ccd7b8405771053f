/**
 * Mail with attachments the test chooses byte for byte, for the tests of attachment references
 * (the API serving them, webhooks pointing at them), and the one builder of a text body with
 * attachments behind it that the other tests' and the bench's messages use ({@link mailText}).
 */
import { randomBytes } from 'node:crypto';

/** One attachment: its file name (any Unicode), type and exact bytes. */
export interface TestAttachment {
  name: string;
  type: string;
  bytes: Buffer;
}

/** Base64 in 76-character lines, as mail carries it. */
export function base64Lines(bytes: Buffer): string {
  return (bytes.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
}

/** RFC 2231 `filename*` of a name (UTF-8, percent-encoded), so any name survives the headers. */
function rfc2231(name: string): string {
  return `UTF-8''${encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
}

/**
 * A message (CRLF) of the header lines `head` and a UTF-8 text `body`: text/plain alone, or
 * multipart/mixed with the `attachments` after the text, base64, each named by RFC 2231.
 */
export function mailText(head: readonly string[], body: string, attachments: readonly TestAttachment[] = [], boundary = `b${randomBytes(6).toString('hex')}`): string {
  const text = ['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit'];
  if (attachments.length === 0) return [...head, ...text, '', body, ''].join('\r\n');
  const b = boundary;
  const parts = attachments.map((a) =>
    [`--${b}`, `Content-Type: ${a.type}`, 'Content-Transfer-Encoding: base64', `Content-Disposition: attachment; filename*=${rfc2231(a.name)}`, '', base64Lines(a.bytes)].join('\r\n'),
  );
  return [...head, `Content-Type: multipart/mixed; boundary="${b}"`, '', `--${b}`, ...text, '', body, ...parts, `--${b}--`, ''].join('\r\n');
}

/** A multipart/mixed message with a short text body and the given attachments (base64). */
export function messageWithAttachments(subject: string, attachments: TestAttachment[]): Buffer {
  const head = [
    'From: "Ann Sender" <ann@example.test>',
    'To: bob@example.test',
    `Subject: ${subject}`,
    'Date: Tue, 02 Dec 2025 10:00:00 +0000',
    `Message-ID: <${randomBytes(8).toString('hex')}@test.mailsluice.invalid>`,
    'MIME-Version: 1.0',
  ];
  return Buffer.from(mailText(head, 'The files are attached.', attachments));
}
