/**
 * Legal holds (issue 16, item 4; docs/legal-hold.md): `GET /api/v1/holds` and `GET
 * /api/v1/holds/{name}` (auditor: a hold names messages and search terms of a matter, which is
 * the archive's content, so the role that reads the archive reads them), `POST /api/v1/holds`
 * and `POST /api/v1/holds/{name}/release` (admin, recorded on the audit log before they are
 * done, with who, the reason and the query or ids). What `mailsluice hold …` does, over HTTP and
 * over the service's control socket (ADR 0025).
 */
import { createRoute, z } from '@hono/zod-openapi';
import { MailsluiceError } from '../../core/errors/index.js';
import type { ApiApp } from '../api-app.js';
import { JSON_HEADERS } from '../api-app.js';
import type { ApiDeps, HoldsAdmin } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { recordRequest } from '../audit-request.js';
import { ACCESS_ANSWERS, errorAnswer, jsonAnswer } from '../schemas.js';
import { HoldReleaseSchema, HoldRequestSchema, HoldSchema } from '../hold-schemas.js';

const nameParam = z.object({ name: z.string().min(1).max(64).openapi({ param: { description: "The hold's name." } }) });
const listQuery = z.object({ all: z.enum(['true', 'false']).optional().openapi({ param: { description: 'true: released holds too (they are kept for the record).' } }) });

function holdsOf(deps: ApiDeps): HoldsAdmin {
  if (!deps.holds) throw new MailsluiceError('API_NOT_FOUND', 'this API keeps no legal holds');
  return deps.holds;
}

const notFound = { 404: errorAnswer('No hold of that name was ever placed (HOLD_NOT_FOUND).') };

const list = createRoute({
  method: 'get',
  path: '/api/v1/holds',
  operationId: 'listHolds',
  summary: 'The legal holds (role auditor)',
  description: 'The active holds by name (with `all=true`, then the released ones), each with how many archived messages it keeps now.',
  security: BEARER,
  request: { query: listQuery },
  responses: { 200: jsonAnswer('The holds.', z.object({ holds: z.array(HoldSchema) })), ...ACCESS_ANSWERS },
});

const show = createRoute({
  method: 'get',
  path: '/api/v1/holds/{name}',
  operationId: 'getHold',
  summary: 'One legal hold (role auditor)',
  security: BEARER,
  request: { params: nameParam },
  responses: { 200: jsonAnswer('The hold, with how many messages it keeps now.', HoldSchema), ...ACCESS_ANSWERS, ...notFound },
});

const place = createRoute({
  method: 'post',
  path: '/api/v1/holds',
  operationId: 'placeHold',
  summary: 'Place a legal hold (role admin)',
  description:
    'A hold by `query` (a custodian hold: mail archived later that matches is held too, until it is released), by message `ids`, or both; a held message is never purged. The query is checked now, never at purge time. Recorded on the audit log (`hold.place`: name, reason, query, ids) before it is placed.',
  security: BEARER,
  request: { body: { content: { 'application/json': { schema: HoldRequestSchema } }, required: true } },
  responses: {
    201: jsonAnswer('The hold placed.', HoldSchema),
    400: errorAnswer('The hold cannot be placed as asked (HOLD_INVALID, or API_BAD_REQUEST for a malformed body): each problem in `problems` by field (`name`, `reason`, `query`, `ids`).'),
    ...ACCESS_ANSWERS,
    409: errorAnswer('A hold of that name was placed before, active or released (HOLD_EXISTS).'),
  },
});

const release = createRoute({
  method: 'post',
  path: '/api/v1/holds/{name}/release',
  operationId: 'releaseHold',
  summary: 'Release a legal hold (role admin)',
  description: 'From now on it keeps nothing; it stays on the record with who released it, when and why. Recorded on the audit log (`hold.release`) before it is released.',
  security: BEARER,
  request: { params: nameParam, body: { content: { 'application/json': { schema: HoldReleaseSchema } }, required: true } },
  responses: {
    200: jsonAnswer('The hold as released.', HoldSchema),
    400: errorAnswer('No reason given (HOLD_INVALID, `problems` naming `reason`).'),
    ...ACCESS_ANSWERS,
    ...notFound,
    409: errorAnswer('The hold was released already (HOLD_RELEASED).'),
  },
});

/** The holds resource. */
export function holdRoutes(app: ApiApp, deps: ApiDeps): void {
  const auditor = { middleware: [requireRole(deps.authorize, 'auditor')] };
  const admin = { middleware: [requireRole(deps.authorize, 'admin')] };
  app.openapi({ ...list, ...auditor }, async (c) => {
    const { all } = c.req.valid('query');
    return c.json({ holds: await holdsOf(deps).list(all === 'true') }, 200, JSON_HEADERS);
  });
  app.openapi({ ...show, ...auditor }, async (c) => {
    const { name } = c.req.valid('param');
    const hold = await holdsOf(deps).get(name);
    if (!hold) throw new MailsluiceError('HOLD_NOT_FOUND', `no hold named "${name}" (GET /api/v1/holds?all=true lists them)`);
    return c.json(hold, 200, JSON_HEADERS);
  });
  app.openapi({ ...place, ...admin }, async (c) => {
    const body = c.req.valid('json');
    const holds = holdsOf(deps);
    // A refused one (the name taken, an unreadable query) is recorded as the attempt it was, as at the command line.
    await recordRequest(c, deps, 'hold.place', { name: body.name, reason: body.reason, query: body.query ?? null, ids: body.ids ?? [] });
    return c.json(await holds.place(c.get('principal').name, body), 201, JSON_HEADERS);
  });
  app.openapi({ ...release, ...admin }, async (c) => {
    const { name } = c.req.valid('param');
    const { reason } = c.req.valid('json');
    const holds = holdsOf(deps);
    await recordRequest(c, deps, 'hold.release', { name, reason });
    return c.json(await holds.release(c.get('principal').name, name, reason), 200, JSON_HEADERS);
  });
}
