/**
 * One token request to an OAuth2 token endpoint (RFC 6749): an `application/x-www-form-urlencoded`
 * POST of the client credentials grant (§4.4) or the refresh token grant (§6), the client
 * authenticated by `client_id`/`client_secret` in the body (§2.3.1; the form the Microsoft
 * identity platform documents), and its answer (§5.1) or error (§5.2) read. Every failure is a
 * catalogue error whose sentence names the endpoint's host and the OAuth `error` and
 * `error_description`, never the secret, the refresh token or a token.
 */
import { MailsluiceError } from '../../core/errors/index.js';
import { TLS_UNTRUSTED_CODES } from '../tls-node/tls-untrusted-codes.js';

/** What is asked of the endpoint. */
export interface TokenRequest {
  tokenUrl: string;
  clientId: string;
  /** The client secret (client credentials; optional with a refresh token for a public client). */
  clientSecret?: string | undefined;
  /** With it, the refresh token grant; without it, client credentials. */
  refreshToken?: string | undefined;
  scope?: string | undefined;
  /** Bound on the whole request. */
  timeoutMs: number;
}

/** A token the endpoint issued. */
export interface IssuedToken {
  accessToken: string;
  /** Lifetime in seconds as the endpoint said (`expires_in`); undefined when it did not. */
  expiresInS: number | undefined;
  /** A new refresh token, when the endpoint rotated it (RFC 6749 §6). */
  refreshToken: string | undefined;
}

/** The grant `r` uses, as RFC 6749 names it. */
export function grantOf(r: Pick<TokenRequest, 'refreshToken'>): 'client_credentials' | 'refresh_token' {
  return r.refreshToken !== undefined ? 'refresh_token' : 'client_credentials';
}

/** `host[:port]` of the endpoint, the only part of its URL put into sentences (a query may hold a key). */
export function endpointHost(tokenUrl: string): string {
  try {
    return new URL(tokenUrl).host;
  } catch {
    return '(an unreadable tokenUrl)';
  }
}

/** Answers that say the client or its grant was refused: retrying with the same settings will not help. */
const REFUSALS = new Set(['invalid_client', 'invalid_grant', 'unauthorized_client', 'access_denied', 'invalid_scope', 'unsupported_grant_type', 'invalid_request']);

/** Printable, one line, bounded: an error description is the endpoint's text, put into our sentence. */
function clean(text: unknown, max = 300): string {
  const s = String(text).replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Posts the token request and returns the token; see the file comment for the failures. */
export async function requestToken(r: TokenRequest, signal?: AbortSignal): Promise<IssuedToken> {
  const host = endpointHost(r.tokenUrl);
  const grant = grantOf(r);
  const form = new URLSearchParams({ grant_type: grant, client_id: r.clientId });
  if (r.clientSecret !== undefined) form.set('client_secret', r.clientSecret);
  if (r.refreshToken !== undefined) form.set('refresh_token', r.refreshToken);
  if (r.scope !== undefined) form.set('scope', r.scope);
  const timeout = AbortSignal.timeout(r.timeoutMs);
  let res: Response;
  let body: string;
  try {
    res = await fetch(r.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
      // A redirect would re-send the secret somewhere the operator did not name.
      redirect: 'manual',
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    body = await res.text();
  } catch (err) {
    throw networkError(err, host, timeout.aborted ? r.timeoutMs : undefined);
  }
  let json: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  if (res.ok && json && typeof json.access_token === 'string' && json.access_token !== '') {
    const exp = Number(json.expires_in);
    return {
      accessToken: json.access_token,
      expiresInS: Number.isFinite(exp) && exp > 0 ? exp : undefined,
      refreshToken: typeof json.refresh_token === 'string' && json.refresh_token !== '' ? json.refresh_token : undefined,
    };
  }
  const what = `the token endpoint ${host} (${grant.replace('_', ' ')} grant, client ${JSON.stringify(r.clientId)})`;
  if (json && typeof json.error === 'string') {
    const said = `${clean(json.error, 80)}${typeof json.error_description === 'string' ? `: ${clean(json.error_description)}` : ''}`;
    if (REFUSALS.has(json.error) || res.status === 400 || res.status === 401) {
      throw new MailsluiceError('SOURCE_AUTH_REJECTED', `${what} refused to issue a token (HTTP ${res.status}, ${said}); check clientId, clientSecret or refreshToken, and scope`, { details: { status: res.status, oauthError: clean(json.error, 80) } });
    }
    throw new MailsluiceError('SOURCE_NETWORK', `${what} failed (HTTP ${res.status}, ${said})`, { details: { status: res.status, oauthError: clean(json.error, 80) } });
  }
  if (res.status >= 500 || res.status === 429 || res.status === 408) {
    throw new MailsluiceError('SOURCE_NETWORK', `${what} answered HTTP ${res.status}; it is tried again later`, { details: { status: res.status } });
  }
  if (res.status >= 300 && res.status < 400) {
    throw new MailsluiceError('SOURCE_PROTOCOL', `${what} answered HTTP ${res.status}, a redirect, which is not followed (the secret would go to another address): configure the final URL as tokenUrl`, { retryable: false, details: { status: res.status } });
  }
  if (res.status === 401 || res.status === 403) {
    throw new MailsluiceError('SOURCE_AUTH_REJECTED', `${what} refused the client (HTTP ${res.status}, no OAuth error in the answer)`, { details: { status: res.status } });
  }
  const looks = res.ok ? 'an answer without an access_token' : `HTTP ${res.status} without an OAuth error`;
  throw new MailsluiceError('SOURCE_PROTOCOL', `${what} sent ${looks}; is tokenUrl the OAuth2 token endpoint?`, { details: { status: res.status } });
}

/** A request that got no answer, as a catalogue error naming the endpoint's host. */
function networkError(err: unknown, host: string, timedOutAfterMs: number | undefined): MailsluiceError {
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
