/**
 * Who makes an API request (ADR 0022, ADR 0028): an API token sent as `Authorization: Bearer`,
 * or the console's session cookie, opened by signing in with a token. Sessions live in this
 * process's memory (`SessionTable`); each request made with one looks its token up again, so a
 * token revoked anywhere (the API, `mailsluice token revoke` through the control socket or on
 * the archive) ends its sessions at their next request. A cookie-authenticated state-changing
 * request must carry the session's CSRF token. Failed Bearer tokens and sign-ins count against
 * their remote address (`LoginLimiter`); what a principal may do stays `mayDo`'s decision.
 */
import { randomBytes } from 'node:crypto';
import type { Authorize, AuthorizeRequest, OpenSession, SessionAccess } from '../api/index.js';
import { CSRF_HEADER, sessionIdFrom, STATE_CHANGING } from '../api/index.js';
import { constantTimeEqual, LoginLimiter, SessionTable, type Principal, type Session } from '../core/access/index.js';
import { tokenFromBearer } from '../core/access/api-token.js';
import { MailsluiceError } from '../core/errors/index.js';
import type { Clock } from '../core/ports/clock.js';
import type { Logger } from '../core/ports/logger.js';
import type { TokenStore } from '../core/ports/token-store.js';
import { hashToken, verifyToken } from './tokens.js';

/** The authorizer and the console's sessions, over one session table and one sign-in limiter. */
export interface ApiCredentials {
  authorize: Authorize;
  sessions: SessionAccess;
}

function header(req: AuthorizeRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Builds the credentials check of one API server. `secureCookie`: the API is reached over TLS
 * (its own, or a proxy's `https` public URL), so the cookie is marked `Secure`.
 */
export function apiCredentials(deps: { tokens: TokenStore; clock: Clock; logger: Logger }, secureCookie: boolean): ApiCredentials {
  const { tokens, clock, logger } = deps;
  const table = new SessionTable(clock, () => randomBytes(32).toString('base64url'));
  const limiter = new LoginLimiter(clock);

  /** Refuses an address that failed too often (429), before any look-up. */
  const admit = (address: string): void => {
    const verdict = limiter.check(address);
    if (verdict.allowed) return;
    const retryAfterSeconds = Math.ceil(verdict.retryAfterMs / 1000);
    throw new MailsluiceError('API_RATE_LIMITED', `too many failed sign-ins from ${address}; try again in ${retryAfterSeconds} s`, { details: { retryAfterSeconds } });
  };
  const failed = (address: string, how: string): void => {
    limiter.fail(address);
    logger.warn('api credentials refused', { how, remote: address });
  };
  const asOpen = (s: Session): OpenSession => ({ id: s.id, csrfToken: s.csrfToken, principal: s.principal, expiresAt: table.expiresAt(s) });

  /** The session named `id` if its token still stands; a revoked token's sessions end here. */
  const live = async (id: string): Promise<Session | null> => {
    const s = table.find(id);
    if (!s) return null;
    if (await tokens.findTokenByHash(s.tokenHash)) return s;
    table.closeForToken(s.tokenHash);
    return null;
  };

  const bearer = async (value: string, address: string): Promise<Principal | null> => {
    admit(address);
    const principal = await verifyToken(tokens, clock, value);
    if (!principal) failed(address, 'bearer');
    return principal;
  };

  const cookie = async (req: AuthorizeRequest, id: string): Promise<Principal | null> => {
    const s = await live(id);
    if (!s) return null;
    if (STATE_CHANGING.has((req.method ?? 'GET').toUpperCase())) {
      const presented = header(req, CSRF_HEADER) ?? '';
      if (!constantTimeEqual(presented, s.csrfToken)) {
        throw new MailsluiceError('API_CSRF_REJECTED', `a ${req.method} made with the session cookie needs the session's CSRF token in the ${CSRF_HEADER} header (GET /api/v1/session answers it)`);
      }
    }
    return s.principal;
  };

  const authorize: Authorize = async (req) => {
    const address = req.remoteAddress ?? 'unknown';
    const auth = header(req, 'authorization');
    // A Bearer is sent by a script, never attached by a browser on its own: it needs no CSRF token.
    if (auth && /^Bearer\s+\S/i.test(auth)) return bearer(auth, address);
    const id = sessionIdFrom(req.headers['cookie']);
    return id ? cookie(req, id) : null;
  };

  const sessions: SessionAccess = {
    secureCookie,
    signIn: async (token, address) => {
      admit(address);
      const principal = await verifyToken(tokens, clock, token);
      const shaped = tokenFromBearer(token);
      if (!principal || !shaped) {
        failed(address, 'sign-in');
        throw new MailsluiceError('API_UNAUTHORIZED', 'that token is not one this archive knows (mistyped, or revoked)');
      }
      const s = table.open(principal, hashToken(shaped));
      logger.info('console signed in', { token: principal.name, remote: address });
      return asOpen(s);
    },
    current: async (id) => {
      const s = await live(id);
      return s ? asOpen(s) : null;
    },
    signOut: (id) => table.close(id),
  };
  return { authorize, sessions };
}
