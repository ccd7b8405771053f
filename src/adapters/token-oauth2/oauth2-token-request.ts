/**
 * One token request to an OAuth2 token endpoint (RFC 6749): an `application/x-www-form-urlencoded`
 * POST of the client credentials grant (§4.4) or the refresh token grant (§6), the client
 * authenticated by `client_id`/`client_secret` in the body (§2.3.1; the form the Microsoft
 * identity platform documents) or by a signed client assertion (oauth2-client-assertion.ts), and its answer (§5.1) read; its errors (§5.2) and fetch's are
 * oauth2-error-map.ts's.
 */
import http from 'node:http';
import https from 'node:https';
import type { ConnectionOptions } from 'node:tls';
import type { IssuedToken, TokenRequest } from './oauth2-token-config.js';
import { mapTokenAnswer, mapTokenRequestError } from './oauth2-error-map.js';
import { clientAssertion, JWT_BEARER_ASSERTION } from './oauth2-client-assertion.js';

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

/** Posts the token request and returns the token; see the file comment for the failures. */
export async function requestToken(r: TokenRequest, signal?: AbortSignal): Promise<IssuedToken> {
  const host = endpointHost(r.tokenUrl);
  const grant = grantOf(r);
  const form = new URLSearchParams({ grant_type: grant, client_id: r.clientId });
  if (r.clientCertificate) {
    form.set('client_assertion_type', JWT_BEARER_ASSERTION);
    form.set('client_assertion', clientAssertion(r.clientCertificate, r.clientId, r.tokenUrl, Date.now()));
  } else if (r.clientSecret !== undefined) form.set('client_secret', r.clientSecret);
  if (r.refreshToken !== undefined) form.set('refresh_token', r.refreshToken);
  if (r.scope !== undefined) form.set('scope', r.scope);
  const timeout = AbortSignal.timeout(r.timeoutMs);
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  let status: number;
  let body: string;
  try {
    const sig = signal ? AbortSignal.any([signal, timeout]) : timeout;
    ({ status, body } = r.tls ? await postOverNode(r.tokenUrl, form.toString(), headers, r.tls, sig) : await postOverFetch(r.tokenUrl, form.toString(), headers, sig));
  } catch (err) {
    throw mapTokenRequestError(err, host, timeout.aborted ? r.timeoutMs : undefined);
  }
  let json: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  if (status >= 200 && status < 300 && json && typeof json.access_token === 'string' && json.access_token !== '') {
    const exp = Number(json.expires_in);
    return {
      accessToken: json.access_token,
      expiresInS: Number.isFinite(exp) && exp > 0 ? exp : undefined,
      refreshToken: typeof json.refresh_token === 'string' && json.refresh_token !== '' ? json.refresh_token : undefined,
    };
  }
  throw mapTokenAnswer(status, json, { host, grant, clientId: r.clientId });
}


/** The POST over node's `fetch` (the system CA store, or NODE_EXTRA_CA_CERTS). */
async function postOverFetch(url: string, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<{ status: number; body: string }> {
  // A redirect would re-send the secret somewhere the operator did not name.
  const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal });
  return { status: res.status, body: await res.text() };
}

/**
 * The POST over `node:https` with the connection's TLS settings (its `tls.ca`, client
 * certificate, minimum version), which `fetch` cannot take; redirects are not followed either.
 */
function postOverNode(url: string, body: string, headers: Record<string, string>, tls: ConnectionOptions, signal: AbortSignal): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(u, { method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) }, signal, ...(u.protocol === 'https:' ? tls : {}) }, (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        // A token answer is a few KiB; more is no token endpoint.
        if (size > MAX_TOKEN_ANSWER_BYTES) res.destroy(new Error(`the answer exceeds ${MAX_TOKEN_ANSWER_BYTES} bytes`));
        else parts.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Bound on a token answer read over node:https. */
const MAX_TOKEN_ANSWER_BYTES = 1024 * 1024;
