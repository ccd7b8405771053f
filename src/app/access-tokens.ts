/**
 * The OAuth2 token sources of the configured connections (auth xoauth2 / oauthbearer, ADR
 * 0045; protocol graph's app-only login, ADR 0047), handed to their sources by the composition root. A source is built afresh for every
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
import { accessTokenSourceFor, OAuth2TokenSource, OAUTH2_TUNING } from '../adapters/token-oauth2/index.js';
import { graphSettings } from '../adapters/source-graph/index.js';
import { tlsClientOptions } from '../adapters/tls-node/tls-client-options.js';
import type { OAuth2TokenSourceOptions } from '../adapters/token-oauth2/index.js';

const shared = new Map<string, AccessTokenSource>();

/**
 * The token source of `cfg`, or undefined when it does not log in with OAuth2. `fresh`: a new
 * one, not shared (the connection test, which must really ask the endpoint).
 */
export function accessTokensFor(cfg: Pick<ConnectionConfig, 'name' | 'protocol' | 'auth' | 'graph' | 'tls' | 'connectTimeoutMs'>, logger: Logger, fresh = false): AccessTokenSource | undefined {
  let make: () => AccessTokenSource;
  let settings: unknown[];
  if (cfg.protocol === 'graph' && cfg.graph) {
    // Graph's app-only login is its own section (ADR 0047); the same cache and sharing apply.
    const o = graphTokenOptions(cfg);
    make = () => new OAuth2TokenSource({ ...o, logger });
    settings = ['graph', o.tokenUrl, o.clientId, o.clientSecret, o.clientCertificatePem, o.scope, cfg.tls];
  } else if (isOAuthType(cfg.auth.type)) {
    make = () => accessTokenSourceFor(cfg.auth, { logger, timeoutMs: cfg.connectTimeoutMs || OAUTH2_TUNING.requestTimeoutMs });
    const a = cfg.auth;
    settings = [a.tokenUrl, a.clientId, a.clientSecret, a.refreshToken, a.scope, a.accessToken];
  } else return undefined;
  if (fresh) return make();
  const key = createHash('sha256').update(JSON.stringify(settings)).digest('hex');
  let s = shared.get(key);
  if (!s) {
    s = make();
    shared.set(key, s);
  }
  return s;
}

/**
 * The app-only token request of a Graph connection (ADR 0048): the tenant's v2.0 token endpoint
 * under `graph.authority`, client credentials with the secret or the certificate, the scope
 * `{graph.endpoint}/.default` (every application permission granted to the app; `graph.scope`
 * when the endpoint stands in for Graph), over the connection's TLS settings.
 */
export function graphTokenOptions(cfg: Pick<ConnectionConfig, 'name' | 'graph' | 'tls' | 'connectTimeoutMs'>): OAuth2TokenSourceOptions {
  const g = graphSettings(cfg);
  return {
    tokenUrl: `${g.authority.replace(/\/+$/, '')}/${encodeURIComponent(g.tenant)}/oauth2/v2.0/token`,
    clientId: g.clientId,
    clientSecret: g.clientSecret,
    clientCertificatePem: g.clientCertificate,
    scope: g.scope ?? `${g.endpoint.replace(/\/+$/, '')}/.default`,
    tls: tlsClientOptions(cfg.tls),
    timeoutMs: cfg.connectTimeoutMs || OAUTH2_TUNING.requestTimeoutMs,
  };
}
