/** `GET /api/v1/stats`: what the archive holds, in total and per connection (viewer). */
import { createRoute } from '@hono/zod-openapi';
import type { ApiApp } from '../api-app.js';
import { JSON_HEADERS } from '../api-app.js';
import type { ApiDeps } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { ACCESS_ANSWERS, jsonAnswer, StatsSchema } from '../schemas.js';

/** The stats resource. */
export function statsRoutes(app: ApiApp, deps: ApiDeps): void {
  const route = createRoute({
    method: 'get',
    path: '/api/v1/stats',
    operationId: 'getStats',
    summary: 'What the archive holds (role viewer)',
    security: BEARER,
    middleware: [requireRole(deps.authorize, 'viewer')],
    responses: { 200: jsonAnswer('Counts of the archive, as `mailsluice stats --json` gives them.', StatsSchema), ...ACCESS_ANSWERS },
  });
  app.openapi(route, async (c) => c.json(await deps.archive.stats(), 200, JSON_HEADERS));
}
