/**
 * Editing the configuration through the API (issue 14, items 1 and 2; ADR 0023), role admin:
 * `POST /api/v1/connections` and `/routes` (create), `PATCH` and `DELETE` of `/{name}`, and
 * `POST /{name}/enable` and `/disable`; `GET /api/v1/config` gives the file's version. Each write
 * honours `If-Match` (409 `CONFIG_CONFLICT` when the file changed since), is recorded on the
 * audit log with the keys it changes (never a value), and answers with the new `ETag` and what
 * applying it to the running service did. The file itself is `ConfigAdmin`'s (the composition
 * root's): this module reads no file.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { MailsluiceError } from '../../core/errors/index.js';
import type { ApiApp, ApiEnv } from '../api-app.js';
import { JSON_HEADERS } from '../api-app.js';
import type { ApiDeps, ConfigAdmin, ConfigChange, ConfigEditResult, ConfigKind } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { recordRequest } from '../audit-request.js';
import { ACCESS_ANSWERS, errorAnswer, jsonAnswer } from '../schemas.js';
import {
  ConfigDeleteSchema,
  ConfigVersionSchema,
  ConnectionInputSchema,
  ConnectionPatchSchema,
  ConnectionWriteSchema,
  RouteInputSchema,
  RoutePatchSchema,
  RouteWriteSchema,
} from '../config-write-schemas.js';

const SECTION: Record<'connection' | 'route', 'connections' | 'routes'> = { connection: 'connections', route: 'routes' };

/** The `ETag` header of a version. */
export const etagHeader = (etag: string): string => `"${etag}"`;

/** The headers of a GET of connections or routes: the file's version as `ETag` where the configuration is edited here. */
export function versionHeaders(deps: Pick<ApiDeps, 'config'>): Record<string, string> {
  return deps.config ? { ...JSON_HEADERS, ETag: etagHeader(deps.config.etag()) } : { ...JSON_HEADERS };
}

function adminOf(deps: ApiDeps): ConfigAdmin {
  if (!deps.config) throw new MailsluiceError('API_NOT_FOUND', 'this command does not edit the configuration (only mailsluice start does)');
  return deps.config;
}

/** The keys a body sets, dotted (what the audit log records of an edit: never a value). */
function keysOf(value: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(value).flatMap(([k, v]) => {
    const path = prefix ? `${prefix}.${k}` : k;
    return v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0 && !('secret' in v || 'env' in v || 'file' in v) ? keysOf(v as Record<string, unknown>, path) : [path];
  });
}

/** The answers every write shares. */
export const WRITE_ANSWERS = {
  400: errorAnswer('The edit would make the configuration invalid, or the body is malformed (API_BAD_REQUEST): the sentence is the one `mailsluice config check` prints, the field named as in the body.'),
  ...ACCESS_ANSWERS,
  409: errorAnswer('The file changed since the version sent in If-Match (CONFIG_CONFLICT), or the name is taken (CONFIG_EXISTS).'),
} as const;

/** The `If-Match` header every write takes. */
export const IF_MATCH = z.object({
  'if-match': z.string().max(200).optional().openapi({ param: { description: 'The ETag the edit was made against; another version answers 409 CONFIG_CONFLICT. Absent: the edit applies to the file as it is.' } }),
});

function routesFor(kind: 'connection' | 'route', deps: ApiDeps) {
  const section = SECTION[kind];
  const nameParam = z.object({ name: z.string().min(1).max(200).openapi({ param: { description: `The ${kind}'s system name.` } }) });
  const writeSchema = kind === 'connection' ? ConnectionWriteSchema : RouteWriteSchema;
  const [inputSchema, patchSchema] = kind === 'connection' ? [ConnectionInputSchema, ConnectionPatchSchema] : [RouteInputSchema, RoutePatchSchema];
  const admin = [requireRole(deps.authorize, 'admin')];
  const notFound = { 404: errorAnswer(`No ${kind} with this name (API_NOT_FOUND).`) };
  const cap = kind === 'connection' ? 'Connection' : 'Route';
  const base = { security: BEARER, middleware: admin } as const;
  return {
    create: createRoute({
      ...base,
      method: 'post',
      path: `/api/v1/${section}`,
      operationId: `create${cap}`,
      summary: `Add a ${kind} (role admin)`,
      description: `Adds one ${kind} to the configuration file (comments and order of the rest kept), checked as \`config check\` checks the file, and applies it to the running service.`,
      request: { headers: IF_MATCH, body: { content: { 'application/json': { schema: inputSchema } }, required: true } },
      responses: { 201: jsonAnswer(`The ${kind} as GET shows it, the file's new version, and what applying it did.`, writeSchema), ...WRITE_ANSWERS },
    }),
    patch: createRoute({
      ...base,
      method: 'patch',
      path: `/api/v1/${section}/{name}`,
      operationId: `update${cap}`,
      summary: `Change a ${kind} (role admin)`,
      description: 'A JSON merge patch: only the keys given change.',
      request: { params: nameParam, headers: IF_MATCH, body: { content: { 'application/json': { schema: patchSchema } }, required: true } },
      responses: { 200: jsonAnswer(`The ${kind} after the change.`, writeSchema), ...WRITE_ANSWERS, ...notFound },
    }),
    remove: createRoute({
      ...base,
      method: 'delete',
      path: `/api/v1/${section}/{name}`,
      operationId: `delete${cap}`,
      summary: `Remove a ${kind} (role admin)`,
      description: kind === 'connection' ? "Its runners stop after their in-flight batch commits; what it archived stays. Its secrets leave the secret store." : 'Its pending deliveries stay on the bus.',
      request: { params: nameParam, headers: IF_MATCH },
      responses: { 200: jsonAnswer('What was removed.', ConfigDeleteSchema), ...WRITE_ANSWERS, ...notFound },
    }),
    enable: createRoute({
      ...base,
      method: 'post',
      path: `/api/v1/${section}/{name}/enable`,
      operationId: `enable${cap}`,
      summary: `Enable a ${kind} (role admin)`,
      request: { params: nameParam, headers: IF_MATCH },
      responses: { 200: jsonAnswer(`The ${kind} after the change.`, writeSchema), ...WRITE_ANSWERS, ...notFound },
    }),
    disable: createRoute({
      ...base,
      method: 'post',
      path: `/api/v1/${section}/{name}/disable`,
      operationId: `disable${cap}`,
      summary: `Disable a ${kind} (role admin)`,
      request: { params: nameParam, headers: IF_MATCH },
      responses: { 200: jsonAnswer(`The ${kind} after the change.`, writeSchema), ...WRITE_ANSWERS, ...notFound },
    }),
  };
}

/** The edited object as GET shows it, from the file as the edit wrote it. */
function shown(kind: ConfigKind, r: ConfigEditResult): Record<string, unknown> {
  if (!r.entry) throw new MailsluiceError('INTERNAL', `the ${kind} ${r.name} just written is not in the configuration read back`);
  return { [kind]: r.entry };
}

/** Records, applies, and answers one edit (of a connection, a route, or an alert rule: `alerts.ts`). */
export async function write(c: Context<ApiEnv>, deps: ApiDeps, kind: ConfigKind, change: ConfigChange, action: string, status: 200 | 201): Promise<Response> {
  const admin = adminOf(deps);
  const name = change.op === 'add' ? change.value.name : change.name;
  const fields = change.op === 'add' ? keysOf(change.value) : change.op === 'patch' ? keysOf(change.patch) : change.op === 'enable' ? ['enabled'] : [];
  await recordRequest(c, deps, action, { [kind]: typeof name === 'string' ? name.slice(0, 200) : null, fields });
  const r: ConfigEditResult = await admin.edit(kind, change, c.req.header('if-match'));
  const common = { etag: r.etag, changed: r.changed, applied: r.applied, reload: r.reload };
  const body = change.op === 'remove' ? { deleted: r.name, ...common } : { ...shown(kind, r), ...common };
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ETag: etagHeader(r.etag) } });
}

/** The body of a write: a JSON object (the schema checked it). */
export const objectBody = (c: Context<ApiEnv>): Record<string, unknown> => (c.req as unknown as { valid(t: 'json'): Record<string, unknown> }).valid('json');

/** The configuration-editing resource. */
export function configEditRoutes(app: ApiApp, deps: ApiDeps): void {
  for (const kind of ['connection', 'route'] as const) {
    const r = routesFor(kind, deps);
    const param = (c: Context<ApiEnv>): string => c.req.param('name') ?? '';
    app.openapi(r.create, (c) => write(c, deps, kind, { op: 'add', value: objectBody(c) }, `config.${kind}.create`, 201) as never);
    app.openapi(r.patch, (c) => write(c, deps, kind, { op: 'patch', name: param(c), patch: objectBody(c) }, `config.${kind}.update`, 200) as never);
    app.openapi(r.remove, (c) => write(c, deps, kind, { op: 'remove', name: param(c) }, `config.${kind}.delete`, 200) as never);
    app.openapi(r.enable, (c) => write(c, deps, kind, { op: 'enable', name: param(c), enabled: true }, `config.${kind}.enable`, 200) as never);
    app.openapi(r.disable, (c) => write(c, deps, kind, { op: 'enable', name: param(c), enabled: false }, `config.${kind}.disable`, 200) as never);
  }
  const version = createRoute({
    method: 'get',
    path: '/api/v1/config',
    operationId: 'getConfigVersion',
    summary: "The configuration file's version (role admin)",
    description: 'Its SHA-256, also in the ETag header: what an edit sends as If-Match.',
    security: BEARER,
    middleware: [requireRole(deps.authorize, 'admin')],
    responses: { 200: jsonAnswer('The version.', ConfigVersionSchema), ...ACCESS_ANSWERS, 404: errorAnswer('This command does not edit the configuration (API_NOT_FOUND).') },
  });
  app.openapi(version, (c) => {
    const etag = adminOf(deps).etag();
    return c.json({ etag }, 200, { ...JSON_HEADERS, ETag: etagHeader(etag) });
  });
}
