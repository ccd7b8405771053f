/**
 * A TLS handshake answered by a plain-text protocol (an IMAP or POP3 greeting where a TLS record
 * was expected): OpenSSL reports it as "wrong version number" (or "packet length too long",
 * "http request"), in a two-line dump an operator cannot act on. One test and one sentence for
 * every adapter that speaks implicit TLS through node:tls.
 */

/** OpenSSL's codes (as node:tls reports them) for a peer that answered a handshake in plain text. */
const PLAIN_TEXT_PEER_CODES: ReadonlySet<string> = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_HTTP_REQUEST']);

/** Whether a node:tls error means the peer does not speak TLS at all. */
export function isPlainTextPeer(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && PLAIN_TEXT_PEER_CODES.has(code);
}

/** The one sentence for {@link isPlainTextPeer}: what is wrong and the two ways to fix it. */
export function plainTextPeerSentence(where: string, port: number): string {
  return `${where} does not speak TLS (port ${port} is a plain-text port): use security: starttls on it, or set tlsPort to the server's implicit-TLS port`;
}
