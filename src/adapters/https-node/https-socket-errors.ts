/**
 * A Node socket or TLS error of an HTTPS source (EWS, Graph) as a catalogue error, the sentence
 * naming the server and the setting that says where it is.
 */
import { MailsluiceError } from '../../core/errors/index.js';
import { TLS_UNTRUSTED_CODES } from '../tls-node/tls-untrusted-codes.js';
import { isPlainTextPeer, plainTextPeerSentence } from '../tls-node/tls-plain-port.js';
import type { HttpsPhase } from './https-request.js';

/** Who failed, for the sentence. */
export interface HttpsServer {
  /** `EWS server`, `Microsoft Graph`. */
  label: string;
  host: string;
  port: number;
  /** The setting that names the host and port (`ews.url`, `graph.endpoint`). */
  setting: string;
}

/** `err` as a catalogue error; catalogue errors pass through unchanged. */
export function mapSocketError(err: unknown, s: HttpsServer, phase: HttpsPhase = 'session'): MailsluiceError {
  if (err instanceof MailsluiceError) return err;
  const rawCode = (err as { code?: unknown } | null)?.code;
  const code = typeof rawCode === 'string' ? rawCode : '';
  const message = err instanceof Error ? err.message : String(err);
  const where = `${s.label} ${s.host}:${s.port}`;
  if (TLS_UNTRUSTED_CODES.has(code)) {
    return new MailsluiceError('SOURCE_TLS_UNTRUSTED', `the certificate of ${where} is not trusted (${code}): ${message}; give the CA in tls.ca or, for testing only, set tls.verify: false`, { cause: err });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NODATA' || code === 'EAI_NONAME') {
    return new MailsluiceError('SOURCE_DNS_FAILED', `cannot resolve host ${s.host} of ${s.setting} (${code})`, { cause: err });
  }
  if (code === 'ECONNREFUSED') return new MailsluiceError('SOURCE_CONNECT_REFUSED', `${where} refused the connection (nothing listens there? check the port in ${s.setting})`, { cause: err });
  if (code === 'ETIMEDOUT' && phase === 'connect') return new MailsluiceError('SOURCE_CONNECT_TIMEOUT', `no connection to ${where} within the connect timeout (${code})`, { cause: err });
  if (isPlainTextPeer(err)) return new MailsluiceError('SOURCE_TLS_FAILED', plainTextPeerSentence(where, s.port), { cause: err });
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /SSL|TLS/.test(code)) {
    return new MailsluiceError('SOURCE_TLS_FAILED', `TLS with ${where} failed (${code}): ${message}`, { cause: err });
  }
  if (phase === 'tls') {
    return new MailsluiceError('SOURCE_TLS_FAILED', `TLS handshake with ${where} failed: ${message}${code ? ` (${code})` : ''}; is ${s.port} an HTTPS port?`, { cause: err });
  }
  return new MailsluiceError('SOURCE_NETWORK', `connection to ${where} failed: ${message}${code ? ` (${code})` : ''}`, { cause: err });
}

/** The connect timeout ran out connecting (`tls`: in the handshake). */
export function connectTimeoutError(s: HttpsServer, tls: boolean, ms: number): MailsluiceError {
  return new MailsluiceError(
    'SOURCE_CONNECT_TIMEOUT',
    tls ? `${s.label} ${s.host}:${s.port} accepted the TCP connection but the TLS handshake did not finish within the connect timeout (${ms} ms)` : `no connection to ${s.label} ${s.host}:${s.port} within the connect timeout (${ms} ms)`,
  );
}
