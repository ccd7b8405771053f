/**
 * What the OAuth2 token adapter is given and its fixed values, each with its reason: the token
 * request ({@link TokenRequest}), a token issued ({@link IssuedToken}), the token source's
 * options, and `OAUTH2_TUNING` (how early a token is renewed, how long one without
 * `expires_in` is held, the request's time bound).
 */
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from '../../core/ports/logger.js';
import type { ClientCertificate } from './oauth2-client-assertion.js';

/** What is asked of the endpoint. */
export interface TokenRequest {
  tokenUrl: string;
  clientId: string;
  /** The client secret (client credentials; optional with a refresh token for a public client). */
  clientSecret?: string | undefined;
  /** Instead of the secret: the certificate a client assertion is signed with (private_key_jwt). */
  clientCertificate?: ClientCertificate | undefined;
  /** With it, the refresh token grant; without it, client credentials. */
  refreshToken?: string | undefined;
  scope?: string | undefined;
  /** Bound on the whole request. */
  timeoutMs: number;
  /**
   * TLS settings of the connection the token is for (Graph: `tls.ca` and the rest apply to the
   * token endpoint too); given, the request goes over `node:https` with them instead of `fetch`.
   */
  tls?: ConnectionOptions | undefined;
}

/** A token the endpoint issued. */
export interface IssuedToken {
  accessToken: string;
  /** Lifetime in seconds as the endpoint said (`expires_in`); undefined when it did not. */
  expiresInS: number | undefined;
  /** A new refresh token, when the endpoint rotated it (RFC 6749 §6). */
  refreshToken: string | undefined;
}

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

/** Settings of an `OAuth2TokenSource`. */
export interface OAuth2TokenSourceOptions extends Omit<TokenRequest, 'timeoutMs' | 'clientCertificate'> {
  /** The PEM of `auth.clientCertificate` (certificate and RSA private key), read at the first request. */
  clientCertificatePem?: string | undefined;
  timeoutMs?: number;
  logger?: Logger;
  /** For tests: the clock. */
  now?: () => number;
}

