/**
 * `GET /api/v1/stats`: what the archive holds, in total and per connection (viewer); and
 * `GET /api/v1/stats/throughput`: the messages taken per minute of the last minutes (viewer;
 * the console's chart), from the archive's own record of when each was taken, so a restart
 * loses nothing.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { throughputOf, throughputWindow, THROUGHPUT_DEFAULT_MINUTES, THROUGHPUT_MAX_MINUTES } from '../../core/stats/throughput.js';
import type { ApiApp } from '../api-app.js';
import { JSON_HEADERS } from '../api-app.js';
import type { ApiDeps } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { ACCESS_ANSWERS, errorAnswer, jsonAnswer, StatsSchema, ThroughputSchema } from '../schemas.js';

const iso = (ms: number): string => new Date(ms).toISOString();

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

  const throughput = createRoute({
    method: 'get',
    path: '/api/v1/stats/throughput',
    operationId: 'getThroughput',
    summary: 'Messages taken per minute of the last minutes (role viewer)',
    description: `Per minute, the messages (and their bytes) taken from the mailboxes, in total and per connection, for the last \`minutes\` minutes up to the current one; by the time each was taken, as the archive records it (a restart loses nothing).`,
    security: BEARER,
    middleware: [requireRole(deps.authorize, 'viewer')],
    request: {
      query: z.object({
        minutes: z.coerce
          .number()
          .int()
          .min(1)
          .max(THROUGHPUT_MAX_MINUTES)
          .optional()
          .openapi({ param: { description: `How many minutes, the current one included (default ${THROUGHPUT_DEFAULT_MINUTES}, at most ${THROUGHPUT_MAX_MINUTES}).` }, type: 'integer' }),
      }),
    },
    responses: { 200: jsonAnswer('Counts per minute, oldest first.', ThroughputSchema), 400: errorAnswer('`minutes` is not a whole number from 1 to 1440 (API_BAD_REQUEST).'), ...ACCESS_ANSWERS },
  });
  app.openapi(throughput, async (c) => {
    const window = throughputWindow(deps.now(), c.req.valid('query').minutes ?? THROUGHPUT_DEFAULT_MINUTES);
    const t = throughputOf(window, await deps.archive.takenPerBucket(window.since, window.until, window.bucketMs));
    return c.json({ from: iso(window.since), to: iso(window.until), minutes: window.minutes, bucketSeconds: 60 as const, total: t.total, connections: t.connections }, 200, JSON_HEADERS);
  });
}
