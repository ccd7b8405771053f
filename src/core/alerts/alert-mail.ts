/**
 * An alert notification as a mail (ADR 0026): a short plain-text message, pure, its bytes made
 * here so any relay sends them as they are. The body is 7bit when it is plain ASCII (most alerts:
 * readable as it is in any mailbox) and base64 (UTF-8) otherwise: a summary may quote a server's
 * reply or a name in any script, and base64 crosses a relay without 8BITMIME.
 */
import type { AlertNotification } from './alert-book.js';

const EVENT_WORD: Record<AlertNotification['event'], string> = { firing: 'FIRING', reminder: 'STILL FIRING', resolved: 'RESOLVED', test: 'TEST' };

/** The subject and text of `n`'s mail. */
export function alertMailText(n: AlertNotification): { subject: string; text: string } {
  const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());
  const subject = `[mailsluice] ${EVENT_WORD[n.event]} ${n.rule} (${n.kind})`;
  const text = [`Alert rule: ${n.rule} (${n.kind})`, `Event: ${n.event}`, `Since: ${iso(n.since)}`, `At: ${iso(n.at)}`, '', n.summary, '', 'GET /api/v1/alerts shows every rule and its state.', ''].join('\r\n');
  return { subject, text };
}

/** What makes a mail unique and dated: handed in, so this stays pure. */
export interface MailStamp {
  /** The Message-ID without angle brackets. */
  messageId: string;
  date: Date;
}

const utf8 = new TextEncoder();

/** The base64 of `text`'s UTF-8 bytes (web-standard globals only: the core uses no Node module). */
function base64(text: string): string {
  let binary = '';
  for (const byte of utf8.encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** A subject as an RFC 2047 encoded word when it is not plain ASCII. */
function headerText(text: string): string {
  return /^[\x20-\x7e]*$/.test(text) ? text : `=?UTF-8?B?${base64(text)}?=`;
}

/** The bytes of `n`'s mail from `from` to `to` (CRLF line ends; a base64 body in 76-character lines). */
export function alertMailBytes(n: AlertNotification, from: string, to: readonly string[], stamp: MailStamp): Uint8Array {
  const { subject, text } = alertMailText(n);
  const ascii = /^[\x20-\x7e\r\n]*$/.test(text) && text.split('\r\n').every((l) => l.length <= 998);
  const body = ascii ? text : base64(text).replace(/.{1,76}/g, '$&\r\n');
  const head = [
    `From: ${from}`,
    `To: ${to.join(', ')}`,
    `Subject: ${headerText(subject)}`,
    `Date: ${stamp.date.toUTCString().replace(/GMT$/, '+0000')}`,
    `Message-ID: <${stamp.messageId}>`,
    'Auto-Submitted: auto-generated',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Transfer-Encoding: ${ascii ? '7bit' : 'base64'}`,
  ];
  return utf8.encode(`${head.join('\r\n')}\r\n\r\n${body}`);
}
