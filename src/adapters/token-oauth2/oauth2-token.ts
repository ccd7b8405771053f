/**
 * {@link AccessTokenSource} over HTTP (ADR 0045): tokens from the configured token endpoint,
 * held until shortly before they expire, one request in flight however many sessions ask, and a
 * refused token dropped so the next login gets a new one. A fixed `accessToken` the operator
 * renews is {@link FixedAccessToken}. Neither ever logs or describes a token or a secret.
 */
import type { AccessTokenSource } from '../../core/ports/access-token-source.js';
import type { Logger } from '../../core/ports/logger.js';
import type { AuthConfig } from '../../config/loader.js';
import { MailsluiceError } from '../../core/errors/index.js';
import { endpointHost, grantOf, requestToken } from './oauth2-token-request.js';
import { parseClientCertificate, type ClientCertificate } from './oauth2-client-assertion.js';
import { OAUTH2_TUNING, type IssuedToken, type OAuth2TokenSourceOptions } from './oauth2-token-config.js';

/** A token held, and when it is to be renewed. */
interface Held {
  token: string;
  renewAt: number;
  expiresInS: number | undefined;
}

/** Tokens from a token endpoint; see the file comment. */
export class OAuth2TokenSource implements AccessTokenSource {
  private held: Held | undefined;
  private inFlight: Promise<Held> | undefined;
  /** The refresh token in use: the configured one, then each one the endpoint rotates to (memory only). */
  private refreshToken: string | undefined;
  private readonly now: () => number;
  /** The client certificate, read at the first request (a bad one fails that request, not the build). */
  private certificate: ClientCertificate | undefined;
  private readonly host: string;

  constructor(private readonly o: OAuth2TokenSourceOptions) {
    this.now = o.now ?? Date.now;
    this.host = endpointHost(o.tokenUrl);
    this.refreshToken = o.refreshToken;
  }

  async token(signal?: AbortSignal): Promise<string> {
    const h = this.held;
    if (h && this.now() < h.renewAt) return h.token;
    // Every caller waits on the same request: sessions opened together cost the endpoint one.
    this.inFlight ??= this.obtain().finally(() => (this.inFlight = undefined));
    return (await abortable(this.inFlight, signal)).token;
  }

  invalidate(token: string): boolean {
    if (this.held?.token === token) this.held = undefined;
    return true;
  }

  describe(): string {
    const cert = this.o.clientCertificatePem !== undefined ? ', a certificate credential' : '';
    const from = `the token endpoint ${this.host} (${grantOf({ refreshToken: this.refreshToken }).replace('_', ' ')} grant, client ${JSON.stringify(this.o.clientId)}${cert})`;
    const h = this.held;
    if (!h) return `no token yet from ${from}`;
    return `a token from ${from}${h.expiresInS !== undefined ? `, issued for ${h.expiresInS} s, renewed after ${Math.max(0, Math.round((h.renewAt - this.now()) / 1000))} s more` : ', with no expires_in: held for 5 minutes or until refused'}`;
  }

  private async obtain(): Promise<Held> {
    const t0 = this.now();
    let issued: IssuedToken;
    try {
      if (this.o.clientCertificatePem !== undefined) this.certificate ??= parseClientCertificate(this.o.clientCertificatePem);
      issued = await requestToken({ ...this.o, clientCertificate: this.certificate, refreshToken: this.refreshToken, timeoutMs: this.o.timeoutMs ?? OAUTH2_TUNING.requestTimeoutMs });
    } catch (err) {
      this.o.logger?.warn('no OAuth2 token from the token endpoint', { host: this.host, code: (err as MailsluiceError).code, error: (err as Error).message });
      throw err;
    }
    if (issued.refreshToken !== undefined) this.refreshToken = issued.refreshToken;
    const lifeMs = issued.expiresInS !== undefined ? issued.expiresInS * 1000 : OAUTH2_TUNING.lifetimeWithoutExpiryMs;
    const early = Math.min(OAUTH2_TUNING.renewEarlyMs, lifeMs * OAUTH2_TUNING.earlyFraction);
    // Counted from before the request: the endpoint's clock started the lifetime no later.
    this.held = { token: issued.accessToken, renewAt: t0 + lifeMs - early, expiresInS: issued.expiresInS };
    this.o.logger?.info('OAuth2 token obtained', { host: this.host, grant: grantOf({ refreshToken: this.refreshToken }), expiresInS: issued.expiresInS ?? null, ms: this.now() - t0 });
    return this.held;
  }
}

/** A token the operator renews (`auth.accessToken`): handed out as it is, never renewed. */
export class FixedAccessToken implements AccessTokenSource {
  constructor(private readonly value: string) {}
  async token(): Promise<string> {
    return this.value;
  }
  invalidate(): boolean {
    return false;
  }
  describe(): string {
    return 'the configured accessToken (renewed by the operator, not by mailsluice)';
  }
}

/** Waits for `p`, or rejects as soon as `signal` aborts (the shared request itself goes on for the others). */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(new MailsluiceError('SOURCE_NETWORK', 'waiting for an OAuth2 token was stopped', { cause: signal.reason }));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new MailsluiceError('SOURCE_NETWORK', 'waiting for an OAuth2 token was stopped', { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The token source an OAuth2 auth block describes, new; a CONFIG_INVALID when it describes none. */
export function accessTokenSourceFor(auth: AuthConfig, opts: { timeoutMs?: number; logger?: Logger } = {}): AccessTokenSource {
  if (auth.tokenUrl !== undefined && auth.clientId !== undefined) {
    return new OAuth2TokenSource({ tokenUrl: auth.tokenUrl, clientId: auth.clientId, clientSecret: auth.clientSecret, clientCertificatePem: auth.clientCertificate, refreshToken: auth.refreshToken, scope: auth.scope, ...opts });
  }
  if (auth.accessToken !== undefined) return new FixedAccessToken(auth.accessToken);
  throw new MailsluiceError('CONFIG_INVALID', `auth is ${auth.type} but neither accessToken nor tokenUrl with clientId is set`);
}
