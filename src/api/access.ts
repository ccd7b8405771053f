/**
 * The role each management path needs, enforced before its request is validated or looked at:
 * no principal is 401 `API_UNAUTHORIZED`, a principal below the role 403 `API_FORBIDDEN`. Who
 * the principal is comes from the `authorize` hook of `ApiDeps`; without one, every such path
 * is refused (closed until credentials exist, never open by default).
 */
import type { MiddlewareHandler } from 'hono';
import { MailsluiceError } from '../core/errors/index.js';
import { roleAllows, type Principal, type Role } from '../core/access/index.js';
import type { ApiEnv } from './api-app.js';

/** What an authorizer is shown of a request: its headers (names in lower case). */
export interface AuthorizeRequest {
  headers: Record<string, string | string[] | undefined>;
}

/** Tells who made a request (null: nobody the service knows). */
export type Authorize = (req: AuthorizeRequest) => Promise<Principal | null>;

/** The OpenAPI security requirement of a path that needs credentials. */
export const BEARER = [{ bearer: [] as string[] }];

/** Middleware admitting principals holding `role` (or a role above it). */
export function requireRole(authorize: Authorize | undefined, role: Role): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    // The route's template, not the path: the path is the client's and not yet validated.
    const path = c.req.routePath.replace(/:(\w+)/g, '{$1}');
    const principal = authorize ? await authorize({ headers: c.req.header() }) : null;
    if (!principal) throw new MailsluiceError('API_UNAUTHORIZED', `${path} needs credentials (role ${role} or above): send Authorization: Bearer <token>`);
    if (!roleAllows(principal, role)) {
      throw new MailsluiceError('API_FORBIDDEN', `${path} needs the ${role} role (or above); ${principal.name} has the ${principal.role} role`);
    }
    c.set('principal', principal);
    await next();
  };
}
