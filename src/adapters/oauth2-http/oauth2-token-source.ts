/**
 * {@link AccessTokenSource} over HTTP (ADR 0045c): tokens from the configured token endpoint,
 * held until shortly before they expire, one request in flight however many sessions ask, and a
 * refused token dropped so the next login gets a new one. A fixed `accessToken` the operator
 * renews is {@link FixedAccessToken}. Neither ever logs or describes a token or a secret.
 */
import { createHash } from 'node:crypto';
import type { AccessTokenSource } from '../../core/ports/access-token-source.js';
import type { Logger } from '../../core/ports/logger.js';
import type { AuthConfig } from '../../config/loader.js';
import { MailsluiceError } from '../../core/errors/index.js';
import { endpointHost, grantOf, requestToken, type IssuedToken, type TokenRequest } from './oauth2-token-request.js';

/** Tunables with their reasons; not operator settings. */
export const OAUTH2_TUNING = {
  /**
   * A token is renewed this long before `expires_in` runs out (at most; see {@link earlyFraction}):
   * it must still be valid when the server checks it, after the connect, TLS and greeting that
   * follow its issue, and the token endpoint's and the mail server's clocks may differ by some
   * seconds. A minute is a small part of the hour Microsoft's tokens last.
   */
  renewEarlyMs: 60_000,
  /** …and at most this part of its lifetime, so a short-lived token (tests, some brokers) is still used. */
  earlyFraction: 0.2,
  /**
   * How long a token whose answer had no `expires_in` (RFC 6749 makes it only RECOMMENDED) is
   * held: short enough that a token revoked meanwhile is soon replaced even without a refusal.
   */
  lifetimeWithoutExpiryMs: 5 * 60_000,
  /** Bound on one token request when the connection sets no connect timeout. */
  requestTimeoutMs: 30_000,
} as const;

/** A token held, and when it is to be renewed. */
interface Held {
  token: string;
  renewAt: number;
  expiresInS: number | undefined;
}

/** Settings of an {@link OAuth2TokenSource}. */
export interface OAuth2TokenSourceOptions extends Omit<TokenRequest, 'timeoutMs'> {
  timeoutMs?: number;
  logger?: Logger;
  /** For tests: the clock. */
  now?: () => number;
}

/** Tokens from a token endpoint; see the file comment. */
export class OAuth2TokenSource implements AccessTokenSource {
  private held: Held | undefined;
  private inFlight: Promise<Held> | undefined;
  /** The refresh token in use: the configured one, then each one the endpoint rotates to (memory only). */
  private refreshToken: string | undefined;
  private readonly now: () => number;
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
    const from = `the token endpoint ${this.host} (${grantOf({ refreshToken: this.refreshToken }).replace('_', ' ')} grant, client ${JSON.stringify(this.o.clientId)})`;
    const h = this.held;
    if (!h) return `no token yet from ${from}`;
    return `a token from ${from}${h.expiresInS !== undefined ? `, issued for ${h.expiresInS} s, renewed after ${Math.max(0, Math.round((h.renewAt - this.now()) / 1000))} s more` : ', with no expires_in: held for 5 minutes or until refused'}`;
  }

  private async obtain(): Promise<Held> {
    const t0 = this.now();
    let issued: IssuedToken;
    try {
      issued = await requestToken({ ...this.o, refreshToken: this.refreshToken, timeoutMs: this.o.timeoutMs ?? OAUTH2_TUNING.requestTimeoutMs });
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
    return new OAuth2TokenSource({ tokenUrl: auth.tokenUrl, clientId: auth.clientId, clientSecret: auth.clientSecret, refreshToken: auth.refreshToken, scope: auth.scope, ...opts });
  }
  if (auth.accessToken !== undefined) return new FixedAccessToken(auth.accessToken);
  throw new MailsluiceError('CONFIG_INVALID', `auth is ${auth.type} but neither accessToken nor tokenUrl with clientId is set`);
}

/**
 * The connection test's `token` step: a token obtained now from a new token source (so the
 * endpoint is really asked, not a drain's cache), and the sentence saying where it came from,
 * naming the endpoint's host and never the token. The login that follows uses the same source.
 */
export async function probeAccessToken(auth: AuthConfig, opts: { timeoutMs?: number; logger?: Logger } = {}): Promise<{ tokens: AccessTokenSource; detail: string }> {
  const tokens = accessTokenSourceFor(auth, opts);
  await tokens.token();
  return { tokens, detail: auth.tokenUrl !== undefined ? `obtained ${tokens.describe()}` : `using ${tokens.describe()}` };
}

/**
 * Sources are built afresh for each session (the runner's connect), but a token must outlive
 * them: one token source per distinct set of token settings, for the life of the process. Keyed
 * by a hash, so the secrets are not kept twice; settings changed by a reload get a new one.
 */
const shared = new Map<string, AccessTokenSource>();

/** The process's token source for these settings (see {@link shared}). */
export function sharedAccessTokenSource(auth: AuthConfig, opts: { timeoutMs?: number; logger?: Logger } = {}): AccessTokenSource {
  const key = createHash('sha256')
    .update(JSON.stringify([auth.tokenUrl, auth.clientId, auth.clientSecret, auth.refreshToken, auth.scope, auth.accessToken]))
    .digest('hex');
  let s = shared.get(key);
  if (!s) {
    s = accessTokenSourceFor(auth, opts);
    shared.set(key, s);
  }
  return s;
}
