/**
 * Response headers for attachment bytes. Both the name and the type come from archived mail, that
 * is from anyone who can send mail to the journal mailbox: they are made safe to put in a header
 * here, and the answer is marked so a browser neither runs nor sniffs it.
 */

/**
 * `Content-Disposition: attachment` with the file name twice (RFC 6266): `filename` in plain
 * ASCII (anything else, quotes, backslashes and `%` replaced by `_`) for old clients, and
 * `filename*` (RFC 8187) with the exact name in UTF-8. Control characters and path separators
 * are dropped from both, so a receiver that saves the file under this name stays in its folder.
 */
export function contentDisposition(name: string): string {
  const clean = name.replace(/[\u0000-\u001f\u007f]/g, '').replace(/[\\/]/g, '_').trim() || 'attachment';
  const ascii = clean.replace(/[^\x20-\x7e]/g, '_').replace(/["\\%]/g, '_');
  // encodeURIComponent leaves ' ( ) * alone, which RFC 8187's attr-char does not allow.
  const encoded = encodeURIComponent(clean).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/** The attachment's `type/subtype` when it is one; otherwise `application/octet-stream`. */
export function safeContentType(type: string): string {
  const t = type.trim().toLowerCase();
  return /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/.test(t) ? t : 'application/octet-stream';
}

/**
 * Headers every attachment answer carries: not cached (the URL is a credential, the bytes are
 * mail), not sniffed as another type, and, opened in a browser anyway, run in a sandbox that
 * loads nothing and sends no Referer (which would carry the signed URL elsewhere).
 */
export const ATTACHMENT_SAFETY_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'none'; sandbox",
  'Referrer-Policy': 'no-referrer',
};
