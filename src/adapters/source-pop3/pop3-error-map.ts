import { MailsluiceError } from '../../core/errors/index.js';
import { TLS_UNTRUSTED_CODES } from '../tls-node/tls-untrusted-codes.js';
import { isPlainTextPeer, plainTextPeerSentence } from '../tls-node/tls-plain-port.js';


/** Where a POP3 failure happened, for the sentence. */
export interface Pop3ErrorContext {
  host: string;
  port: number;
}

/**
 * What the connection was doing when a socket error arrived: a reset during the TLS handshake is
 * a TLS failure (typically a plain-text port given as the TLS port), the same reset later is a
 * network failure.
 */
export type Pop3Phase = 'connect' | 'tls' | 'session';

/** `host:port` as the sentences name the server. */
export function pop3Where(ctx: Pop3ErrorContext): string {
  return `${ctx.host}:${ctx.port}`;
}

/**
 * A server line quoted for an error sentence: JSON-quoted (control bytes visible) and cut to
 * about 100 characters, so a server sending megabytes of garbage cannot flood a log line.
 */
export function quoteServerLine(line: string): string {
  const max = 100;
  return line.length > max ? `${JSON.stringify(line.slice(0, max))}…` : JSON.stringify(line);
}

/**
 * Turns a Node socket or TLS error into a catalogue error with a sentence an operator can act on.
 * Errors that already are {@link MailsluiceError}s pass through unchanged.
 */
export function mapPop3Error(err: unknown, ctx: Pop3ErrorContext, phase: Pop3Phase = 'session'): MailsluiceError {
  if (err instanceof MailsluiceError) return err;
  const rawCode = (err as { code?: unknown } | null)?.code;
  const code = typeof rawCode === 'string' ? rawCode : '';
  const message = err instanceof Error ? err.message : String(err);
  const where = pop3Where(ctx);
  if (TLS_UNTRUSTED_CODES.has(code)) {
    return new MailsluiceError(
      'SOURCE_TLS_UNTRUSTED',
      `the certificate of POP3 server ${where} is not trusted (${code}): ${message}; give the CA in tls.ca or, for testing only, set tls.verify: false`,
      { cause: err },
    );
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NODATA' || code === 'EAI_NONAME') {
    return new MailsluiceError('SOURCE_DNS_FAILED', `cannot resolve host ${ctx.host} (${code})`, { cause: err });
  }
  if (code === 'ECONNREFUSED') {
    return new MailsluiceError('SOURCE_CONNECT_REFUSED', `POP3 server ${where} refused the connection (nothing listens there?)`, { cause: err });
  }
  if (code === 'ETIMEDOUT' && phase === 'connect') {
    return new MailsluiceError('SOURCE_CONNECT_TIMEOUT', `no connection to POP3 server ${where} within the connect timeout (${code})`, { cause: err });
  }
  if (isPlainTextPeer(err)) return new MailsluiceError('SOURCE_TLS_FAILED', plainTextPeerSentence(`POP3 server ${where}`, ctx.port), { cause: err });
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /SSL|TLS/.test(code)) {
    return new MailsluiceError('SOURCE_TLS_FAILED', `TLS with POP3 server ${where} failed (${code}): ${message}`, { cause: err });
  }
  if (phase === 'tls') {
    // The peer hung up mid-handshake: most often a plain-text port configured as the TLS port,
    // or a server that refuses our TLS version or client certificate.
    return new MailsluiceError(
      'SOURCE_TLS_FAILED',
      `TLS handshake with POP3 server ${where} failed: ${message}${code ? ` (${code})` : ''}; is ${ctx.port} really a TLS port, and do tls.minVersion and the client certificate suit the server?`,
      { cause: err },
    );
  }
  return new MailsluiceError('SOURCE_NETWORK', `connection to POP3 server ${where} failed: ${message}${code ? ` (${code})` : ''}`, { cause: err });
}
