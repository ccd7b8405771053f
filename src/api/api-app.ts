/**
 * The API as a Hono application (ADR 0021): every route is declared with its zod schemas, which
 * validate the request, type the handler and describe the route in the OpenAPI document. What a
 * handler throws, a request that fails its schema, a path that does not exist and a method a
 * path does not take all end in `error-status.ts`: `{ code, message }` from the one catalogue.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { MailsluiceError, toMailsluiceError } from '../core/errors/index.js';
import type { Principal } from '../core/access/index.js';
import { errorResponse, type ErrorAnswer } from './error-status.js';
import type { ApiDeps } from './api-server-config.js';
import { healthRoutes } from './routes/health.js';
import { attachmentRoutes } from './routes/attachments.js';
import { statsRoutes } from './routes/stats.js';
import { connectionRoutes } from './routes/connections.js';
import { connectionActionRoutes } from './routes/connection-actions.js';
import { messageRoutes } from './routes/messages.js';
import { exportRoutes } from './routes/export.js';
import { openApiRoutes } from './routes/openapi.js';
import { auditRoutes } from './routes/audit.js';
import { archiveVerifyRoutes } from './routes/archive-verify.js';
import { archiveRetentionRoutes } from './routes/archive-retention.js';
import { mailRoutes } from './routes/mail-routes.js';
import { deliveryRoutes } from './routes/deliveries.js';
import { metricsRoutes } from './routes/metrics.js';
import { alertRoutes } from './routes/alerts.js';
import { sessionRoutes } from './routes/session.js';
import { configEditRoutes } from './routes/config-edits.js';
import { tokenRoutes } from './routes/tokens.js';
import { holdRoutes } from './routes/holds.js';
import { consoleRoutes } from './console-files.js';


/** What a request carries from one middleware to the next. */
export type ApiEnv = { Variables: { principal: Principal } };

/** The application type every resource registers its routes on. */
export type ApiApp = OpenAPIHono<ApiEnv>;

/** The headers of every JSON answer: never cached (status and archive content change, and are not public). */
export const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' } as const;

/** An error answer as a `Response`. */
export function errorAnswer(err: MailsluiceError): Response {
  const a: ErrorAnswer = errorResponse(err);
  return new Response(a.body, { status: a.status, headers: a.headers });
}

/** A request that failed its schema: `API_BAD_REQUEST` naming the first field at fault. */
function badRequest(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>, target: string): MailsluiceError {
  const first = issues[0];
  const name = first?.path.map(String).join('.') || target;
  const why = first?.message ?? 'is malformed';
  const fieldProblems = issues.map((i) => ({ field: i.path.map(String).join('.') || target, message: i.message }));
  return new MailsluiceError('API_BAD_REQUEST', why.startsWith('must') ? `${name} ${why}` : `${name}: ${why}`, { details: { field: name, in: target, fieldProblems } });
}

/** The path templates served and their methods, for the 405 of a path served with other methods. */
type PathTable = Array<{ pattern: RegExp; method: string }>;

function pathTable(app: ApiApp): PathTable {
  return app.routes
    .filter((r) => r.method !== 'ALL')
    .map((r) => ({ pattern: new RegExp(`^${r.path.replace(/[.+?^$()|[\]\\]/g, '\\$&').replace(/:\w+/g, '[^/]+')}$`), method: r.method }));
}

/** 404 for a path nobody serves, 405 (with `Allow`) for one served under other methods. */
function notServed(c: Context, table: PathTable): Response {
  const path = c.req.path;
  const methods = table.filter((t) => t.pattern.test(path)).map((t) => t.method);
  // The path is the client's: echoed back only in part.
  const shown = path.length > 200 ? `${path.slice(0, 200)}…` : path;
  if (methods.length > 0) {
    const allow = [...new Set(methods.flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])))].join(', ');
    return errorAnswer(new MailsluiceError('API_METHOD_NOT_ALLOWED', `${c.req.method} is not allowed on ${shown}; use ${allow}`, { details: { allow } }));
  }
  return errorAnswer(new MailsluiceError('API_NOT_FOUND', `no API path ${shown} (GET /api/v1/openapi.json lists them)`));
}

/**
 * Builds the application over `deps`. Building reads nothing from `deps`: the OpenAPI document
 * is made from an application built over no dependencies at all (`openapi.ts`).
 */
export function createApiApp(deps: ApiDeps): ApiApp {
  const app: ApiApp = new OpenAPIHono<ApiEnv>({
    defaultHook: (result, c) => {
      if (!result.success) throw badRequest(result.error.issues, result.target);
      return undefined;
    },
  });
  app.use('*', async (c, next) => {
    const started = deps.now();
    await next();
    // Never the query: a signed URL's signature is a credential.
    deps.logger.debug('api request', { method: c.req.method, path: c.req.path, status: c.res.status, ms: deps.now() - started });
  });
  app.onError((err, c) => {
    const e = toMailsluiceError(err);
    const answer = errorAnswer(e);
    if (answer.status >= 500) deps.logger.error('api request failed', { method: c.req.method, path: c.req.path, code: e.code, error: e.message });
    return answer;
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API token; the role it was made with decides which paths it may use.',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'session', {
    type: 'apiKey',
    in: 'cookie',
    name: 'mailsluice_session',
    description: 'The console session cookie (POST /api/v1/session); every POST, PUT, PATCH and DELETE made with it must carry its CSRF token in X-CSRF-Token.',
  });
  healthRoutes(app, deps);
  openApiRoutes(app);
  sessionRoutes(app, deps);
  attachmentRoutes(app, deps);
  statsRoutes(app, deps);
  connectionRoutes(app, deps);
  connectionActionRoutes(app, deps);
  // Before the messages: `export` would otherwise be read as an `archiveId` (and refused).
  exportRoutes(app, deps);
  messageRoutes(app, deps);
  mailRoutes(app, deps);
  deliveryRoutes(app, deps);
  configEditRoutes(app, deps);
  auditRoutes(app, deps);
  archiveVerifyRoutes(app, deps);
  archiveRetentionRoutes(app, deps);
  tokenRoutes(app, deps);
  holdRoutes(app, deps);
  metricsRoutes(app, deps);
  alertRoutes(app, deps);
  if (deps.console) consoleRoutes(app, deps.console);
  const table = pathTable(app);
  app.notFound((c) => notServed(c, table));
  return app;
}
