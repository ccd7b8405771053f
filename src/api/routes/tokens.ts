/**
 * API tokens (admin; issue 14, items 3 and 9): `GET /api/v1/tokens` lists them (never a token
 * nor its hash), `POST /api/v1/tokens` makes one and answers it once, `DELETE
 * /api/v1/tokens/{name}` revokes one at once. What `mailsluice token create|list|revoke` does,
 * over HTTP and over the service's control socket (ADR 0025); making and revoking are recorded
 * on the audit log before they are done (name and role, never the token).
 */
import { createRoute, z } from '@hono/zod-openapi';
import { MailsluiceError } from '../../core/errors/index.js';
import { ROLES } from '../../core/access/index.js';
import { tokenNameProblem } from '../../core/access/api-token.js';
import type { ApiApp } from '../api-app.js';
import { JSON_HEADERS } from '../api-app.js';
import type { ApiDeps, TokensAdmin } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { recordRequest } from '../audit-request.js';
import { ACCESS_ANSWERS, errorAnswer, jsonAnswer } from '../schemas.js';

const RoleSchema = z.enum(ROLES).openapi({ description: '`viewer` sees status and stats, `auditor` also reads the archive and the audit log, `admin` also changes configuration and tokens.' });

const TokenInfoSchema = z
  .object({
    name: z.string(),
    role: RoleSchema,
    created: z.string().openapi({ description: 'ISO 8601.' }),
    lastUsed: z.string().nullable().openapi({ description: 'ISO 8601, to the minute or so; null when never used.' }),
  })
  .openapi('TokenInfo');

const CreateBody = z
  .object({
    name: z.string().min(1).max(64).openapi({ description: 'Unique; 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit.' }),
    role: RoleSchema,
  })
  .openapi('TokenRequest');

const CreatedSchema = z
  .object({
    token: z.string().openapi({ description: 'The token (`msl_…`): shown in this answer only, stored only as its SHA-256.' }),
    name: z.string(),
    role: RoleSchema,
    created: z.string().openapi({ description: 'ISO 8601.' }),
  })
  .openapi('CreatedToken');

const nameParam = z.object({ name: z.string().min(1).max(64).openapi({ param: { description: "The token's name." } }) });

function tokensOf(deps: ApiDeps): TokensAdmin {
  if (!deps.tokens) throw new MailsluiceError('API_NOT_FOUND', 'this API manages no tokens');
  return deps.tokens;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The tokens resource. */
export function tokenRoutes(app: ApiApp, deps: ApiDeps): void {
  const admin = [requireRole(deps.authorize, 'admin')];
  const list = createRoute({
    method: 'get',
    path: '/api/v1/tokens',
    operationId: 'listTokens',
    summary: 'The API tokens (role admin)',
    description: 'Ordered by name: name, role, when made and last used; never a token or its hash.',
    security: BEARER,
    middleware: admin,
    responses: { 200: jsonAnswer('Every token.', z.object({ tokens: z.array(TokenInfoSchema) })), ...ACCESS_ANSWERS },
  });
  const create = createRoute({
    method: 'post',
    path: '/api/v1/tokens',
    operationId: 'createToken',
    summary: 'Make an API token (role admin)',
    description: 'The answer holds the token, once: it is stored only as its SHA-256. Recorded on the audit log (name and role) before it is made.',
    security: BEARER,
    middleware: admin,
    request: { body: { content: { 'application/json': { schema: CreateBody } }, required: true } },
    responses: {
      201: jsonAnswer('The new token.', CreatedSchema),
      400: errorAnswer('The body is malformed or the name cannot name a token (API_BAD_REQUEST, naming the field).'),
      ...ACCESS_ANSWERS,
      409: errorAnswer('A token of that name exists (TOKEN_EXISTS).'),
    },
  });
  const revoke = createRoute({
    method: 'delete',
    path: '/api/v1/tokens/{name}',
    operationId: 'revokeToken',
    summary: 'Revoke an API token (role admin)',
    description: 'It stops working at once. Recorded on the audit log before it is revoked.',
    security: BEARER,
    middleware: admin,
    request: { params: nameParam },
    responses: { 200: jsonAnswer('Revoked.', z.object({ revoked: z.string() })), ...ACCESS_ANSWERS, 404: errorAnswer('No token of that name (TOKEN_NOT_FOUND).') },
  });
  app.openapi(list, async (c) => {
    const tokens = await tokensOf(deps).list();
    return c.json({ tokens: tokens.map((t) => ({ name: t.name, role: t.role, created: iso(t.createdAt)!, lastUsed: iso(t.lastUsedAt) })) }, 200, JSON_HEADERS);
  });
  app.openapi(create, async (c) => {
    const { name, role } = c.req.valid('json');
    const problem = tokenNameProblem(name);
    if (problem) throw new MailsluiceError('API_BAD_REQUEST', `name: ${problem}`, { details: { field: 'name', in: 'json' } });
    // A refused one (the name is taken) is recorded as the attempt it was, as at the command line.
    await recordRequest(c, deps, 'token.create', { name, role });
    return c.json(await tokensOf(deps).create(name, role), 201, JSON_HEADERS);
  });
  app.openapi(revoke, async (c) => {
    const { name } = c.req.valid('param');
    await recordRequest(c, deps, 'token.revoke', { name });
    if (!(await tokensOf(deps).revoke(name))) throw new MailsluiceError('TOKEN_NOT_FOUND', `no token named "${name}" (GET /api/v1/tokens or mailsluice token list shows them)`);
    return c.json({ revoked: name }, 200, JSON_HEADERS);
  });
}
