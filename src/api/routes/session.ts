/**
 * The console's session (issue 14, "Access control"; ADR 0028): `POST /api/v1/session` signs in
 * with an API token and sets the session cookie, answering who is signed in and the CSRF token
 * every state-changing request made with the cookie must carry in `X-CSRF-Token`;
 * `GET /api/v1/session` tells who is signed in (and the CSRF token again, for a reloaded page);
 * `DELETE /api/v1/session` signs out. A token that fails, also here, counts against its
 * address's sign-in limit (429 with Retry-After). Signing in, signing out and a refused token are
 * recorded on the audit log (`session.create`, `session.delete`, `session.refused`) before the
 * answer is given.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { MailsluiceError } from '../../core/errors/index.js';
import { constantTimeEqual } from '../../core/access/index.js';
import type { ApiApp } from '../api-app.js';
import { JSON_HEADERS } from '../api-app.js';
import type { ApiDeps, OpenSession, SessionAccess } from '../api-server-config.js';
import { recordRequestAs, remoteAddress } from '../audit-request.js';
import { clearedSessionCookie, CSRF_HEADER, sessionCookie, sessionIdFrom } from '../session-cookie.js';
import { errorAnswer, jsonAnswer } from '../schemas.js';

const SignInSchema = z
  .object({ token: z.string().min(1).max(200).openapi({ description: 'An API token (`mailsluice token create`).', example: 'msl_…' }) })
  .openapi('SignIn');

/** A signed-in session: who, its CSRF token, when it ends unless used. */
export const SessionSchema = z
  .object({
    principal: z.object({ name: z.string(), role: z.enum(['viewer', 'auditor', 'admin']) }).openapi({ description: 'The token signed in with: its name and role.' }),
    csrfToken: z.string().openapi({ description: 'Send it as X-CSRF-Token with every POST, PUT, PATCH and DELETE made with the session cookie.' }),
    expiresAt: z.string().openapi({ format: 'date-time', description: 'When the session ends unless it is used again before (12 hours idle).' }),
  })
  .openapi('Session');

const cookieHeader = { 'Set-Cookie': { description: 'The session cookie (HttpOnly, SameSite=Strict, Path=/; Secure over TLS).', schema: { type: 'string' as const } } };

function body(s: OpenSession): z.infer<typeof SessionSchema> {
  return { principal: { name: s.principal.name, role: s.principal.role }, csrfToken: s.csrfToken, expiresAt: new Date(s.expiresAt).toISOString() };
}

/**
 * Who a refused sign-in is recorded as: no token name is known, and `-` names no token (a name
 * starts with a letter or digit). The token's text is never recorded.
 */
export const REFUSED_SIGN_IN_WHO = '-';

function sessionsOf(deps: ApiDeps): SessionAccess {
  if (!deps.sessions) throw new MailsluiceError('API_NOT_FOUND', 'this command serves no console sessions');
  return deps.sessions;
}

const signIn = createRoute({
  method: 'post',
  path: '/api/v1/session',
  operationId: 'signIn',
  summary: 'Sign the console in with an API token',
  description: 'Sets the session cookie and answers the CSRF token. Recorded on the audit log as `session.create` (the token\'s name and role, the remote address) before the cookie is sent; a refused token as `session.refused` (the remote address, never the token). Failed sign-ins are limited per remote address (10 a minute, then 429, not recorded).',
  request: { body: { required: true, content: { 'application/json': { schema: SignInSchema } } } },
  responses: {
    200: { ...jsonAnswer('Signed in.', SessionSchema), headers: cookieHeader },
    400: errorAnswer('No token in the body (API_BAD_REQUEST).'),
    401: errorAnswer('The token is not one the archive knows, or it was revoked (API_UNAUTHORIZED).'),
    429: errorAnswer('Too many failed attempts from this address (API_RATE_LIMITED); try again after `Retry-After` seconds.'),
  },
});

const whoAmI = createRoute({
  method: 'get',
  path: '/api/v1/session',
  operationId: 'getSession',
  summary: 'Who is signed in with the session cookie',
  responses: {
    200: jsonAnswer('The session: who, its CSRF token, when it ends.', SessionSchema),
    401: errorAnswer('No session cookie, or its session ended (signed out, idle too long, its token revoked, or the service restarted) (API_UNAUTHORIZED).'),
  },
});

const signOut = createRoute({
  method: 'delete',
  path: '/api/v1/session',
  operationId: 'signOut',
  summary: 'Sign the console out',
  description: 'Ends the session and clears the cookie. With an open session, the X-CSRF-Token header must carry its CSRF token; the sign-out is recorded on the audit log as `session.delete` first.',
  responses: {
    204: { description: 'Signed out (or no session was open).', headers: cookieHeader },
    403: errorAnswer('An open session, but no or the wrong X-CSRF-Token (API_CSRF_REJECTED).'),
  },
});

/** The session resource. */
export function sessionRoutes(app: ApiApp, deps: ApiDeps): void {
  app.openapi(signIn, async (c) => {
    const sessions = sessionsOf(deps);
    let session: OpenSession;
    try {
      session = await sessions.signIn(c.req.valid('json').token, remoteAddress(c));
    } catch (err) {
      // A token refused once the limiter admitted the address; a 429 is not recorded, so the
      // limiter's budget (10 a minute per address) bounds these records too.
      if (err instanceof MailsluiceError && err.code === 'API_UNAUTHORIZED') await recordRequestAs(c, deps, REFUSED_SIGN_IN_WHO, 'session.refused', {});
      throw err;
    }
    try {
      await recordRequestAs(c, deps, session.principal.name, 'session.create', { role: session.principal.role });
    } catch (err) {
      // Not recorded, not signed in: the session ends before its cookie is ever sent.
      sessions.signOut(session.id);
      throw err;
    }
    return c.json(body(session), 200, { ...JSON_HEADERS, 'Set-Cookie': sessionCookie(session.id, sessions.secureCookie) });
  });
  app.openapi(whoAmI, async (c) => {
    const sessions = sessionsOf(deps);
    const id = sessionIdFrom(c.req.header('cookie'));
    const session = id ? await sessions.current(id) : null;
    if (!session) throw new MailsluiceError('API_UNAUTHORIZED', 'not signed in: POST /api/v1/session with { "token": … } signs in');
    return c.json(body(session), 200, JSON_HEADERS);
  });
  app.openapi(signOut, async (c) => {
    const sessions = sessionsOf(deps);
    const id = sessionIdFrom(c.req.header('cookie'));
    const session = id ? await sessions.current(id) : null;
    if (session) {
      // Signing out is a state change too: another site must not end an operator's session.
      const presented = c.req.header(CSRF_HEADER) ?? '';
      if (!constantTimeEqual(presented, session.csrfToken)) throw new MailsluiceError('API_CSRF_REJECTED', `DELETE /api/v1/session with the session cookie needs its CSRF token in ${CSRF_HEADER}`);
      await recordRequestAs(c, deps, session.principal.name, 'session.delete', { role: session.principal.role });
      sessions.signOut(session.id);
    }
    return c.body(null, 204, { 'Cache-Control': 'no-store', 'Set-Cookie': clearedSessionCookie(sessions.secureCookie) });
  });
}
