/**
 * The token endpoint's answers and fetch's failures → catalogue codes; the only place they are
 * looked at. The endpoint refusing the client or the grant (RFC 6749 §5.2 `invalid_client`,
 * `invalid_grant`, …, or a 400/401/403) is SOURCE_AUTH_REJECTED, not retryable: the same
 * settings will be refused again. A 5xx, 408 or 429 is SOURCE_NETWORK, retryable; a redirect is
 * not followed (the secret would go to an address the operator did not name); an answer that is
 * no token is SOURCE_PROTOCOL. Every sentence names the endpoint's host and the OAuth `error` and
 * `error_description`, never the secret, a refresh token or a token.
 */
import { MailsluiceError } from '../../core/errors/index.js';
import { TLS_UNTRUSTED_CODES } from '../tls-node/tls-untrusted-codes.js';

/** Answers that say the client or its grant was refused: retrying with the same settings will not help. */
const REFUSALS = new Set(['invalid_client', 'invalid_grant', 'unauthorized_client', 'access_denied', 'invalid_scope', 'unsupported_grant_type', 'invalid_request']);

/** Printable, one line, bounded: an error description is the endpoint's text, put into our sentence. */
function clean(text: unknown, max = 300): string {
  const s = String(text).replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** The error for an answer that holds no token (`json`: its body when it was a JSON object). */
export function mapTokenAnswer(status: number, json: Record<string, unknown> | undefined, r: { host: string; grant: string; clientId: string }): MailsluiceError {
  const what = `the token endpoint ${r.host} (${r.grant.replace('_', ' ')} grant, client ${JSON.stringify(r.clientId)})`;
  if (json && typeof json.error === 'string') {
    const said = `${clean(json.error, 80)}${typeof json.error_description === 'string' ? `: ${clean(json.error_description)}` : ''}`;
    if (REFUSALS.has(json.error) || status === 400 || status === 401) {
      return new MailsluiceError('SOURCE_AUTH_REJECTED', `${what} refused to issue a token (HTTP ${status}, ${said}); check clientId, clientSecret or refreshToken, and scope`, { details: { status: status, oauthError: clean(json.error, 80) } });
    }
    return new MailsluiceError('SOURCE_NETWORK', `${what} failed (HTTP ${status}, ${said})`, { details: { status: status, oauthError: clean(json.error, 80) } });
  }
  if (status >= 500 || status === 429 || status === 408) {
    return new MailsluiceError('SOURCE_NETWORK', `${what} answered HTTP ${status}; it is tried again later`, { details: { status: status } });
  }
  if (status >= 300 && status < 400) {
    return new MailsluiceError('SOURCE_PROTOCOL', `${what} answered HTTP ${status}, a redirect, which is not followed (the secret would go to another address): configure the final URL as tokenUrl`, { retryable: false, details: { status: status } });
  }
  if (status === 401 || status === 403) {
    return new MailsluiceError('SOURCE_AUTH_REJECTED', `${what} refused the client (HTTP ${status}, no OAuth error in the answer)`, { details: { status: status } });
  }
  const looks = status >= 200 && status < 300 ? 'an answer without an access_token' : `HTTP ${status} without an OAuth error`;
  return new MailsluiceError('SOURCE_PROTOCOL', `${what} sent ${looks}; is tokenUrl the OAuth2 token endpoint?`, { details: { status: status } });
}

/** A request that got no answer, as a catalogue error naming the endpoint's host. */
export function mapTokenRequestError(err: unknown, host: string, timedOutAfterMs: number | undefined): MailsluiceError {
  if (err instanceof MailsluiceError) return err;
  if (timedOutAfterMs !== undefined) {
    return new MailsluiceError('SOURCE_CONNECT_TIMEOUT', `the token endpoint ${host} did not answer within ${timedOutAfterMs} ms`, { cause: err });
  }
  if ((err as { name?: string }).name === 'AbortError') return new MailsluiceError('SOURCE_NETWORK', `the request to the token endpoint ${host} was stopped`, { cause: err });
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (err as { code?: string }).code;
  const text = code ? `${code}${cause?.message ? ` (${cause.message})` : ''}` : err instanceof Error ? err.message : String(err);
  if (code && TLS_UNTRUSTED_CODES.has(code)) return new MailsluiceError('SOURCE_TLS_UNTRUSTED', `the token endpoint ${host}'s certificate failed verification: ${text}`, { cause: err });
  if (code === 'ECONNREFUSED') return new MailsluiceError('SOURCE_CONNECT_REFUSED', `the token endpoint ${host} refused the connection: ${text}`, { cause: err });
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new MailsluiceError('SOURCE_DNS_FAILED', `the token endpoint's host ${host} could not be resolved: ${text}`, { cause: err });
  return new MailsluiceError('SOURCE_NETWORK', `the token endpoint ${host} could not be reached: ${text}`, { cause: err });
}
