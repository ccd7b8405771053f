/**
 * The routes resource (issue 14, item 1): `GET /api/v1/routes` and `/{name}` (viewer) show the
 * configured routes without a secret; `/{name}/deliveries` (viewer) their deliveries by state,
 * paged with a cursor; `POST /{name}/deliveries/retry` (admin, audited) puts dead letters back
 * to pending, where the running dispatcher, which polls the bus, takes them up again.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { MailsluiceError } from '../../core/errors/index.js';
import type { DeliveryRecord } from '../../core/ports/message-bus.js';
import type { ApiApp } from '../api-app.js';
import { JSON_HEADERS } from '../api-app.js';
import type { ApiDeps, RouteSettings, RoutesView } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { recordRequest } from '../audit-request.js';
import { versionHeaders } from './config-edits.js';
import { ACCESS_ANSWERS, DeliveryPageSchema, DeliveryStateSchema, errorAnswer, jsonAnswer, RouteSchema } from '../schemas.js';

/** Deliveries per page unless `limit` says otherwise, and the most it may say. */
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
/** How deep paging goes: the cursor is an offset in message order, each page listed again up to its end. */
const MAX_DEPTH = 10_000;
/** Ids one retry may name. */
const MAX_IDS = 10_000;

const nameParam = z.object({ name: z.string().min(1).max(200).openapi({ param: { description: "The route's system name." } }) });

const DeliveryParams = z.object({
  state: DeliveryStateSchema.optional().openapi({ param: { description: 'Only deliveries in this state.' } }),
  cursor: z
    .string()
    .regex(/^[0-9]{1,6}$/, { error: 'must be the `next` of an earlier page, as it was given' })
    .optional()
    .openapi({ param: { description: 'The `next` of the page before; absent for the first page.' } }),
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).optional().openapi({ param: { description: `Deliveries per page (default ${DEFAULT_LIMIT}).` }, type: 'integer' }),
});

const RetryBody = z
  .object({ ids: z.array(z.string().min(1).max(300)).min(1).max(MAX_IDS).optional().openapi({ description: 'The dead deliveries to retry; absent: every dead delivery of the route.' }) })
  .openapi('RetryRequest');

const RetryAnswer = z
  .object({
    replayed: z.number().int().openapi({ description: 'Dead deliveries put back to pending (due now).' }),
    ids: z.array(z.string()),
    notDead: z.array(z.string()).openapi({ description: 'Ids asked for that are no dead delivery of this route (unknown, pending or done).' }),
  })
  .openapi('RetryResult');

function routesOf(deps: ApiDeps): RoutesView {
  return deps.routes ?? { configured: () => [], deliveries: { list: async () => [], replay: async () => [] } };
}

function find(routes: readonly RouteSettings[], name: string): RouteSettings {
  const found = routes.find((r) => r.name === name);
  if (!found) throw new MailsluiceError('API_NOT_FOUND', `no route ${JSON.stringify(name.slice(0, 100))} (GET /api/v1/routes lists them)`);
  return found;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** A delivery as the API shows it (per route here, across routes in `deliveries.ts`). */
export function delivery(d: DeliveryRecord): z.infer<typeof DeliveryPageSchema>['deliveries'][number] {
  return {
    id: d.id,
    connection: d.connection,
    route: d.route,
    bus: d.bus,
    state: d.state,
    step: d.step,
    attempts: d.attempts,
    lastError: d.lastError,
    createdAt: iso(d.createdAt),
    nextAt: iso(d.nextAt),
    doneAt: d.doneAt === null ? null : iso(d.doneAt),
  };
}

/** The routes resource's operations, as the document describes them. */
function routeOperations(deps: ApiDeps) {
  const viewer = [requireRole(deps.authorize, 'viewer')];
  const notFound = { 404: errorAnswer('No route with this name (API_NOT_FOUND).') };
  const list = createRoute({
    method: 'get',
    path: '/api/v1/routes',
    operationId: 'listRoutes',
    summary: 'The configured routes (role viewer)',
    security: BEARER,
    middleware: viewer,
    responses: {
      200: jsonAnswer(
        'Every configured route, enabled or not; secrets (webhook signing secrets, header values, SMTP passwords) are never shown.',
        z.object({
          routes: z.array(RouteSchema),
          buses: z.number().int().openapi({ description: "The number of buses the service runs (setting `buses`, applied at start): a route's `bus` is 0..buses-1." }),
        }),
      ),
      ...ACCESS_ANSWERS,
    },
  });
  const one = createRoute({
    method: 'get',
    path: '/api/v1/routes/{name}',
    operationId: 'getRoute',
    summary: 'One route (role viewer)',
    security: BEARER,
    middleware: viewer,
    request: { params: nameParam },
    responses: { 200: jsonAnswer('The route with `settings`: every setting as the file writes it, for an edit form; a secret only as its reference (`{ env }`, `{ file }`, `{ secret }`) or, written in the file, `{ keep: PATH }`, never its value.', RouteSchema), ...ACCESS_ANSWERS, ...notFound },
  });
  const deliveries = createRoute({
    method: 'get',
    path: '/api/v1/routes/{name}/deliveries',
    operationId: 'listRouteDeliveries',
    summary: "A route's deliveries (role viewer)",
    description: `In message (mailbox) order; paging ends at ${MAX_DEPTH} deliveries (narrow by \`state\` to see further).`,
    security: BEARER,
    middleware: viewer,
    request: { params: nameParam, query: DeliveryParams },
    responses: { 200: jsonAnswer('One page of deliveries.', DeliveryPageSchema), 400: errorAnswer('A parameter is malformed (API_BAD_REQUEST, naming it).'), ...ACCESS_ANSWERS, ...notFound },
  });
  const retry = createRoute({
    method: 'post',
    path: '/api/v1/routes/{name}/deliveries/retry',
    operationId: 'retryRouteDeliveries',
    summary: "Retry a route's dead letters (role admin)",
    description: 'Puts the dead deliveries named, or every dead delivery of the route, back to pending, due now, with their attempts reset; the running dispatcher delivers them from the step that failed. Recorded on the audit log.',
    security: BEARER,
    middleware: [requireRole(deps.authorize, 'admin')],
    request: { params: nameParam, body: { content: { 'application/json': { schema: RetryBody } }, required: false } },
    responses: { 200: jsonAnswer('What was put back.', RetryAnswer), 400: errorAnswer('The body is malformed (API_BAD_REQUEST, naming the field).'), ...ACCESS_ANSWERS, ...notFound },
  });
  return { list, one, deliveries, retry };
}

/** The routes resource. */
export function mailRoutes(app: ApiApp, deps: ApiDeps): void {
  const { list, one, deliveries, retry } = routeOperations(deps);
  app.openapi(list, (c) => {
    const routes = routesOf(deps);
    return c.json({ routes: [...routes.configured()], buses: routes.buses?.() ?? 1 }, 200, versionHeaders(deps));
  });
  app.openapi(one, (c) => {
    const routes = routesOf(deps);
    const route = find(routes.configured(), c.req.valid('param').name);
    const settings = routes.stored?.(route.name);
    return c.json({ ...route, ...(settings ? { settings } : {}) }, 200, versionHeaders(deps));
  });
  app.openapi(deliveries, async (c) => {
    const routes = routesOf(deps);
    const route = find(routes.configured(), c.req.valid('param').name);
    const p = c.req.valid('query');
    const offset = p.cursor === undefined ? 0 : Number(p.cursor);
    const end = Math.min(offset + (p.limit ?? DEFAULT_LIMIT), MAX_DEPTH);
    // One more than the page: whether there is a next one.
    const rows = offset >= end ? [] : await routes.deliveries.list({ route: route.name, ...(p.state ? { state: p.state } : {}), limit: end + 1 });
    const page = rows.slice(offset, end);
    const next = rows.length > end && end < MAX_DEPTH ? String(end) : null;
    return c.json({ deliveries: page.map(delivery), next }, 200, JSON_HEADERS);
  });
  app.openapi(retry, async (c) => {
    const routes = routesOf(deps);
    const route = find(routes.configured(), c.req.valid('param').name);
    const body = (c.req.valid('json') as z.infer<typeof RetryBody> | undefined) ?? {};
    // Only this route's ids (`<connection>.<route>.<message id>`): the bus replays any id it is given.
    const prefix = `${route.connection}.${route.name}.`;
    const asked = body.ids ? [...new Set(body.ids)] : undefined;
    const own = asked?.filter((id) => id.startsWith(prefix) && /^[0-9]+$/.test(id.slice(prefix.length)));
    await recordRequest(c, deps, 'deliveries.retry', { route: route.name, ...(asked ? { ids: asked } : { allDead: true }) });
    const ids = own === undefined ? await routes.deliveries.replay({ allDead: true, route: route.name }, deps.now()) : own.length > 0 ? await routes.deliveries.replay({ ids: own }, deps.now()) : [];
    const notDead = (asked ?? []).filter((id) => !ids.includes(id));
    return c.json({ replayed: ids.length, ids, notDead }, 200, JSON_HEADERS);
  });
}
