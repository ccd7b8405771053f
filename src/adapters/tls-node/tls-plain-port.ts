/**
 * A TLS handshake answered by a plain-text protocol (an IMAP or POP3 greeting where a TLS record
 * was expected): OpenSSL reports it as "wrong version number" (or "packet length too long",
 * "http request"), in a two-line dump an operator cannot act on. One test and one sentence for
 * every adapter that speaks implicit TLS through node:tls.
 */

/** Whether a node:tls error means the peer does not speak TLS at all. */
export function isPlainTextPeer(err: unknown): boolean {
  const e = (err ?? {}) as { code?: unknown; message?: unknown; reason?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const text = `${typeof e.reason === 'string' ? e.reason : ''} ${typeof e.message === 'string' ? e.message : ''}`;
  return code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || code === 'ERR_SSL_HTTP_REQUEST' || /wrong version number|packet length too long|http request/i.test(text);
}

/** The one sentence for {@link isPlainTextPeer}: what is wrong and the two ways to fix it. */
export function plainTextPeerSentence(where: string, port: number): string {
  return `${where} does not speak TLS (port ${port} is a plain-text port): use security: starttls on it, or set tlsPort to the server's implicit-TLS port`;
}
