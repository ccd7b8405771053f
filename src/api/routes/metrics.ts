/**
 * `GET /metrics`: the service's metrics in the Prometheus text format (issue 14's contract:
 * series named `mailsluice_…`, per-connection series labelled `connection="<name>"`). It needs
 * a token of any role (viewer) unless `api.metricsOpen` opens it to a scraper that sends none.
 * What the series are, and what a scrape costs, is in `adapters/metrics-prometheus/README.md`.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { MailsluiceError } from '../../core/errors/index.js';
import type { ApiApp, ApiEnv } from '../api-app.js';
import type { ApiDeps } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { ACCESS_ANSWERS, errorAnswer } from '../schemas.js';

/** The metrics resource. */
export function metricsRoutes(app: ApiApp, deps: ApiDeps): void {
  const viewer = requireRole(deps.authorize, 'viewer');
  const access: MiddlewareHandler<ApiEnv> = (c, next) => (deps.metricsOpen ? next() : viewer(c, next));
  const route = createRoute({
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    summary: 'Prometheus metrics (role viewer, or open with api.metricsOpen)',
    description:
      'Every series in the Prometheus text exposition format 0.0.4, named mailsluice_…: per connection (label connection) messages and bytes taken, errors by code, state, seconds since the last successful cycle; per route (label route) deliveries by state, done, retried, dead and the delivery latency histogram; the parse backlog; the archive\'s messages and bytes; Node\'s process metrics. Read at scrape time.',
    security: BEARER,
    middleware: [access],
    responses: {
      200: { description: 'The series now.', content: { 'text/plain; version=0.0.4; charset=utf-8': { schema: z.string() } } },
      ...ACCESS_ANSWERS,
      404: errorAnswer('No pipeline runs in this process, so there is nothing to measure (API_NOT_FOUND).'),
    },
  });
  app.openapi(route, async (c) => {
    if (!deps.metrics) throw new MailsluiceError('API_NOT_FOUND', '/metrics has nothing to report: no pipeline runs in this process');
    const { contentType, text } = await deps.metrics.render();
    return c.text(text, 200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
  });
}
