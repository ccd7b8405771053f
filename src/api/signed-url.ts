/**
 * Signed URLs: how the API lets a webhook receiver fetch an attachment without an account. The
 * URL carries its expiry and an HMAC-SHA256, made with a key only this installation has
 * (`url-key.ts`), over the method, the path and the expiry; whoever holds the URL may fetch that
 * one attachment until it expires, and changing any part of it breaks the signature.
 *
 * The signature covers the API's own path (`/api/v1/...`), not `publicUrl`: a reverse proxy in
 * front of the API may put it under another host or prefix without breaking the URLs.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { MailsluiceError } from '../core/errors/index.js';

/**
 * Bumped if what is signed ever changes, so a signature of one scheme can never pass as one of
 * another; it is part of the signed text, not of the URL.
 */
const SIGNING_CONTEXT = 'mailsluice-url-v1';

/** Length of the key in bytes: the HMAC-SHA256 block size's worth of strength is more than enough. */
export const URL_KEY_BYTES = 32;

/** The path of an attachment of an archived message (both ids are lowercase hex SHA-256). */
export function attachmentPath(archiveId: string, sha256: string): string {
  return `/api/v1/messages/${archiveId}/attachments/${sha256}`;
}

/** The hex HMAC-SHA256 of (method, path, expiry) under `key`: the `signature` query parameter. */
export function urlSignature(key: Uint8Array, method: string, path: string, expires: number | string): string {
  return createHmac('sha256', key).update(`${SIGNING_CONTEXT}\n${method}\n${path}\n${expires}`).digest('hex');
}

/** What a request presents for verification: its method, its path as received, its query values. */
export interface SignedRequest {
  method: string;
  path: string;
  expires: string | null;
  signature: string | null;
}

/** Makes and checks signed URLs with one key. */
export interface UrlSigner {
  /** The full signed URL of an attachment (under `publicUrl`), valid for the TTL from `nowMs`. */
  attachmentUrl(archiveId: string, sha256: string, nowMs: number): string;
  /**
   * Throws `API_FORBIDDEN` unless the request's signature is this key's for its method, path and
   * expiry, and that expiry is still ahead of `nowMs`.
   */
  verify(request: SignedRequest, nowMs: number): void;
}

/** Options of {@link createUrlSigner}. */
export interface UrlSignerOptions {
  /** How receivers reach the API, without a trailing slash (`api.publicUrl`). */
  publicUrl: string;
  /** How long a URL stays valid after it was made (`api.referenceTtlSeconds`). */
  ttlSeconds: number;
}

/** Creates the signer for `key` ({@link URL_KEY_BYTES} bytes). */
export function createUrlSigner(key: Uint8Array, options: UrlSignerOptions): UrlSigner {
  if (key.byteLength !== URL_KEY_BYTES) throw new MailsluiceError('API_URL_KEY_UNUSABLE', `the URL signing key must be ${URL_KEY_BYTES} bytes, not ${key.byteLength}`);
  const base = options.publicUrl.replace(/\/+$/, '');
  return {
    attachmentUrl(archiveId, sha256, nowMs) {
      const path = attachmentPath(archiveId, sha256);
      const expires = Math.floor(nowMs / 1000) + options.ttlSeconds;
      return `${base}${path}?expires=${expires}&signature=${urlSignature(key, 'GET', path, expires)}`;
    },
    verify(request, nowMs) {
      const { expires, signature } = request;
      if (expires === null || signature === null) throw new MailsluiceError('API_FORBIDDEN', 'the URL carries no signature: use the signed URL as it was given (expires and signature query parameters)');
      if (!/^\d{1,12}$/.test(expires) || !/^[0-9a-f]{64}$/.test(signature)) throw new MailsluiceError('API_FORBIDDEN', 'the URL carries a malformed expires or signature parameter');
      // HEAD is GET without the body: the same URL answers both.
      const method = request.method === 'HEAD' ? 'GET' : request.method;
      const want = Buffer.from(urlSignature(key, method, request.path, expires), 'hex');
      // Constant time: how far a guess matches must not show in how long the answer takes.
      if (!timingSafeEqual(Buffer.from(signature, 'hex'), want)) throw new MailsluiceError('API_FORBIDDEN', 'the URL signature does not match (the URL was changed, or signed with another key)');
      if (Number(expires) * 1000 <= nowMs) throw new MailsluiceError('API_FORBIDDEN', `the URL expired at ${new Date(Number(expires) * 1000).toISOString()}`);
    },
  };
}
