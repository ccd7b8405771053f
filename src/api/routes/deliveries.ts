/**
 * `GET /api/v1/deliveries` (viewer): the deliveries of every route, filtered by state, route and
 * connection, in message order, each with its message id and where its server response stands:
 * what `mailsluice deliveries list` prints, so the command can ask a running service for it
 * through the control socket (ADR 0025). Paged by a keyset cursor (the last delivery's message
 * id and route), so a page costs the same at any depth.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { DeliveryRecord } from '../../core/ports/message-bus.js';
import type { ResponseStatus } from '../../core/ports/response-ledger.js';
import type { ApiApp } from '../api-app.js';
import { JSON_HEADERS } from '../api-app.js';
import type { ApiDeps } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { delivery } from './mail-routes.js';
import { ACCESS_ANSWERS, DeliveryListSchema, DeliveryStateSchema, errorAnswer, jsonAnswer, type ListedDeliverySchema } from '../schemas.js';

/** Deliveries per page unless `limit` says otherwise, and the most it may say. */
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

/** `<message id>.<route>` of a page's last delivery (route names are system names: no dot). */
const CURSOR = /^([0-9]{1,15})\.([A-Za-z0-9_]{1,200})$/;

const Params = z.object({
  state: DeliveryStateSchema.optional().openapi({ param: { description: 'Only deliveries in this state.' } }),
  route: z.string().min(1).max(200).optional().openapi({ param: { description: 'Only the deliveries of this route.' } }),
  connection: z.string().min(1).max(200).optional().openapi({ param: { description: 'Only the deliveries of messages taken by this connection.' } }),
  cursor: z
    .string()
    .regex(CURSOR, { error: 'must be the `next` of an earlier page, as it was given' })
    .optional()
    .openapi({ param: { description: 'The `next` of the page before; absent for the first page.' } }),
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).optional().openapi({ param: { description: `Deliveries per page (default ${DEFAULT_LIMIT}).` }, type: 'integer' }),
});

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function listed(d: DeliveryRecord, r: ResponseStatus | undefined): z.infer<typeof ListedDeliverySchema> {
  return {
    ...delivery(d),
    messageId: d.messageId,
    response: d.response,
    responseResult: r ? (r.result ?? 'pending') : null,
    responseNote: r?.note ?? null,
    responseAt: iso(r?.at ?? null),
  };
}

/** The deliveries resource across routes. */
export function deliveryRoutes(app: ApiApp, deps: ApiDeps): void {
  const list = createRoute({
    method: 'get',
    path: '/api/v1/deliveries',
    operationId: 'listDeliveries',
    summary: 'Deliveries of every route (role viewer)',
    description:
      "In message (mailbox) order, then by route; each with its message id and its server response (the route's `response` or `errorResponse`) and where that stands. What `mailsluice deliveries list` prints. `GET /api/v1/routes/{name}/deliveries` is one route's.",
    security: BEARER,
    middleware: [requireRole(deps.authorize, 'viewer')],
    request: { query: Params },
    responses: { 200: jsonAnswer('One page of deliveries.', DeliveryListSchema), 400: errorAnswer('A parameter is malformed (API_BAD_REQUEST, naming it).'), ...ACCESS_ANSWERS },
  });
  app.openapi(list, async (c) => {
    const p = c.req.valid('query');
    const limit = p.limit ?? DEFAULT_LIMIT;
    const at = p.cursor === undefined ? undefined : CURSOR.exec(p.cursor)!;
    // One more than the page: whether there is a next one.
    const rows = deps.routes
      ? await deps.routes.deliveries.list({
          ...(p.state ? { state: p.state } : {}),
          ...(p.route ? { route: p.route } : {}),
          ...(p.connection ? { connection: p.connection } : {}),
          ...(at ? { after: { messageId: Number(at[1]), route: at[2]! } } : {}),
          limit: limit + 1,
        })
      : [];
    const page = rows.slice(0, limit);
    const responses = (await deps.routes?.responses?.responseStatuses(page.filter((d) => d.response !== null).map((d) => d.id))) ?? new Map<string, ResponseStatus>();
    const last = page.at(-1);
    const next = rows.length > limit && last ? `${last.messageId}.${last.route}` : null;
    return c.json({ deliveries: page.map((d) => listed(d, responses.get(d.id))), next }, 200, JSON_HEADERS);
  });
}
