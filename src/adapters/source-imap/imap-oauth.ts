/**
 * OAuth2 logins for an imapflow client (auth xoauth2 / oauthbearer, ADR 0045): the token comes
 * from the connection's {@link AccessTokenSource} at login time (so each session gets one valid
 * now, renewed before it expires), imapflow sends it (`AUTHENTICATE XOAUTH2` or `OAUTHBEARER`,
 * RFC 7628, SASL-IR when offered), and a refused token is invalidated and the login tried once
 * more with a new one on the same connection before the refusal is reported.
 *
 * Only the configured mechanism is used: imapflow picks OAUTHBEARER whenever the server offers
 * it, so the other mechanism is taken out of the capabilities it chooses from; a server offering
 * neither is a clear SOURCE_AUTH_UNSUPPORTED, never a fallback to a password.
 */
import type { ImapFlow } from 'imapflow';
import { MailsluiceError } from '../../core/errors/index.js';
import { loginWithToken, type AccessTokenSource } from '../../core/ports/access-token-source.js';
import type { ImapSourceConfig } from './imap-source-config.js';

/** The parts of imapflow's connection the OAuth step touches (internal to imapflow, stable since 1.0). */
interface ImapFlowInternals {
  state: unknown;
  states: { NOT_AUTHENTICATED: unknown };
  capabilities: Map<string, unknown>;
  options: { auth?: { user?: string; accessToken?: string } };
  authenticate: () => Promise<boolean>;
}

/** The SASL mechanism of an OAuth2 auth type. */
export function oauthMechanism(type: ImapSourceConfig['auth']['type']): 'XOAUTH2' | 'OAUTHBEARER' {
  return type === 'oauthbearer' ? 'OAUTHBEARER' : 'XOAUTH2';
}

/** How an OAuth2 login went, for the connection test's sentence (never the token). */
export interface OAuthLoginInfo {
  mechanism: 'XOAUTH2' | 'OAUTHBEARER';
  user: string;
  /** Whether the first token was refused and a new one accepted. */
  renewed: boolean;
}

/**
 * Makes `client` log in with a token of `tokens` by the configured mechanism only; `onLogin` is
 * told how it went. A refusal keeps imapflow's `authenticationFailed` (SOURCE_AUTH_REJECTED in
 * the error map), its text naming the mechanism, where the token came from, and the server's
 * OAuth status.
 */
export function useOAuth(client: ImapFlow, cfg: ImapSourceConfig, where: string, tokens: AccessTokenSource, onLogin?: (info: OAuthLoginInfo) => void): void {
  const c = client as unknown as ImapFlowInternals;
  const imapflowLogin = c.authenticate.bind(c);
  const mechanism = oauthMechanism(cfg.auth.type);
  c.authenticate = async () => {
    if (c.state !== c.states.NOT_AUTHENTICATED) return true; // PREAUTH: nothing to do
    const offered = mechanism === 'OAUTHBEARER' ? c.capabilities.has('AUTH=OAUTHBEARER') : c.capabilities.has('AUTH=XOAUTH2') || c.capabilities.has('AUTH=XOAUTH');
    if (!offered) {
      const list = [...c.capabilities.keys()].filter((k) => k.startsWith('AUTH=')).join(' ') || 'no AUTH= mechanism';
      throw new MailsluiceError('SOURCE_AUTH_UNSUPPORTED', `IMAP server ${where} does not offer ${mechanism} (it offers ${list}); auth is ${cfg.auth.type}, so no other login is tried`);
    }
    // Not put back after the login: AUTH= capabilities mean nothing once authenticated.
    for (const k of mechanism === 'XOAUTH2' ? ['AUTH=OAUTHBEARER'] : ['AUTH=XOAUTH2', 'AUTH=XOAUTH']) c.capabilities.delete(k);
    const auth = (c.options.auth ??= { user: cfg.auth.username ?? '' });
    let renewed = false;
    try {
      const ok = await loginWithToken(
        tokens,
        async (token, retry) => {
          renewed = retry;
          auth.accessToken = token;
          try {
            return await imapflowLogin();
          } finally {
            // The token stays in no object that outlives the login.
            delete auth.accessToken;
          }
        },
        (err) => (err as { authenticationFailed?: boolean }).authenticationFailed === true,
      );
      onLogin?.({ mechanism, user: cfg.auth.username ?? '', renewed });
      return ok;
    } catch (err) {
      const e = err as { authenticationFailed?: boolean; responseText?: string; message?: string; oauthError?: { status?: unknown } };
      if (e.authenticationFailed) {
        const status = typeof e.oauthError?.status === 'string' ? `, OAuth status ${JSON.stringify(e.oauthError.status)}` : '';
        const again = renewed ? '; a new token was obtained and refused too' : '';
        e.responseText = `${e.responseText || e.message || 'refused'} (AUTHENTICATE ${mechanism} with ${tokens.describe()}${status}${again})`;
      }
      throw err;
    }
  };
}
