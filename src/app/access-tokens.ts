/**
 * The OAuth2 token sources of the configured connections (auth xoauth2 / oauthbearer, ADR
 * 0045), handed to their sources by the composition root. A source is built afresh for every
 * session (the runner's connect), but a token must outlive it: one token source per distinct set
 * of token settings, for the life of the process, so the sessions of a connection (and its
 * folders' runners) share one token and one request to the endpoint. Keyed by a hash, so the
 * secrets are not kept a second time; settings changed by a reload get a new source.
 */
import { createHash } from 'node:crypto';
import type { AccessTokenSource } from '../core/ports/access-token-source.js';
import type { Logger } from '../core/ports/logger.js';
import type { ConnectionConfig } from '../config/loader.js';
import { isOAuthType } from '../config/oauth-checks.js';
import { accessTokenSourceFor, OAUTH2_TUNING } from '../adapters/token-oauth2/index.js';

const shared = new Map<string, AccessTokenSource>();

/**
 * The token source of `cfg`, or undefined when it does not log in with OAuth2. `fresh`: a new
 * one, not shared (the connection test, which must really ask the endpoint).
 */
export function accessTokensFor(cfg: Pick<ConnectionConfig, 'auth' | 'connectTimeoutMs'>, logger: Logger, fresh = false): AccessTokenSource | undefined {
  if (!isOAuthType(cfg.auth.type)) return undefined;
  const make = (): AccessTokenSource => accessTokenSourceFor(cfg.auth, { logger, timeoutMs: cfg.connectTimeoutMs || OAUTH2_TUNING.requestTimeoutMs });
  if (fresh) return make();
  const a = cfg.auth;
  const key = createHash('sha256').update(JSON.stringify([a.tokenUrl, a.clientId, a.clientSecret, a.refreshToken, a.scope, a.accessToken])).digest('hex');
  let s = shared.get(key);
  if (!s) {
    s = make();
    shared.set(key, s);
  }
  return s;
}
