/**
 * The role each management path needs, enforced before its request is validated or looked at:
 * no principal is 401 `API_UNAUTHORIZED`, a principal below the role 403 `API_FORBIDDEN`. Who
 * the principal is comes from the `authorize` hook of `ApiDeps` (a Bearer token, or the console's
 * session cookie with its CSRF token: `app/api-credentials.ts`); without one, every such path is
 * refused (closed until credentials exist, never open by default).
 */
import type { MiddlewareHandler } from 'hono';
import { MailsluiceError } from '../core/errors/index.js';
import { roleAllows, type Principal, type Role } from '../core/access/index.js';
import type { ApiEnv } from './api-app.js';
import { remoteAddress } from './audit-request.js';

/** What an authorizer is shown of a request. */
export interface AuthorizeRequest {
  /** Its headers (names in lower case): `authorization`, `cookie`, `x-csrf-token`. */
  headers: Record<string, string | string[] | undefined>;
  /** Its method, upper case: a cookie-authenticated `POST`, `PUT`, `PATCH` or `DELETE` needs the CSRF token. */
  method?: string;
  /** The client's address: failed credentials are limited per address. */
  remoteAddress?: string;
}

/**
 * Tells who made a request (null: nobody the service knows). May throw `API_CSRF_REJECTED`
 * (a session's state-changing request without its CSRF token) or `API_RATE_LIMITED` (the
 * address failed too often): both are answered as they are.
 */
export type Authorize = (req: AuthorizeRequest) => Promise<Principal | null>;

/**
 * The OpenAPI security requirement of a path that needs credentials: an API token as a Bearer,
 * or the console's session cookie (with `X-CSRF-Token` on state-changing requests).
 */
export const BEARER: Array<Record<string, string[]>> = [{ bearer: [] }, { session: [] }];

/** Middleware admitting principals holding `role` (or a role above it). */
export function requireRole(authorize: Authorize | undefined, role: Role): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    // The route's template, not the path: the path is the client's and not yet validated.
    const path = c.req.routePath.replace(/:(\w+)/g, '{$1}');
    const principal = authorize ? await authorize({ headers: c.req.header(), method: c.req.method, remoteAddress: remoteAddress(c) }) : null;
    if (!principal) throw new MailsluiceError('API_UNAUTHORIZED', `${path} needs credentials (role ${role} or above): send Authorization: Bearer <token>, or sign in (POST /api/v1/session)`);
    if (!roleAllows(principal, role)) {
      throw new MailsluiceError('API_FORBIDDEN', `${path} needs the ${role} role (or above); ${principal.name} has the ${principal.role} role`);
    }
    c.set('principal', principal);
    await next();
  };
}
