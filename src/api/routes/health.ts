/**
 * `GET /healthz` (the process is up and its API answers) and `GET /readyz` (the archive can be
 * read, and the state of every enabled connection's runners): for a supervisor or a load
 * balancer, so both are open.
 */
import { createRoute } from '@hono/zod-openapi';
import { toMailsluiceError } from '../../core/errors/index.js';
import type { ApiApp } from '../api-app.js';
import { JSON_HEADERS } from '../api-app.js';
import type { ApiDeps } from '../api-server-config.js';
import { HealthSchema, jsonAnswer, ReadySchema } from '../schemas.js';
import { connectionStatuses } from './connections.js';

/** Runner states in which a connection does not take mail and will not on its own. */
const NOT_READY = new Set(['error', 'disk-full']);

const health = createRoute({
  method: 'get',
  path: '/healthz',
  operationId: 'getHealth',
  summary: 'Whether the service is up',
  responses: { 200: jsonAnswer('The service runs and its API answers.', HealthSchema) },
});

const ready = createRoute({
  method: 'get',
  path: '/readyz',
  operationId: 'getReady',
  summary: 'Whether the service can do its work',
  description: 'Ready when the archive can be read and no enabled connection is stopped on an error or paused by a full disk. Open, like /healthz.',
  responses: {
    200: jsonAnswer('Ready.', ReadySchema),
    503: jsonAnswer('Not ready: the body says what is not.', ReadySchema),
  },
});

/** The health resource. */
export function healthRoutes(app: ApiApp, deps: ApiDeps): void {
  app.openapi(health, (c) => c.json({ ok: true as const }, 200, JSON_HEADERS));
  app.openapi(ready, async (c) => {
    let archive: { readable: boolean; code?: string } = { readable: true };
    try {
      // A lookup by primary key: proves the database opens and answers, at no cost.
      await deps.archive.findArchived('0'.repeat(64));
    } catch (err) {
      archive = { readable: false, code: toMailsluiceError(err).code };
    }
    const connections = (await connectionStatuses(deps, false)).filter((s) => s.enabled).map((s) => ({ name: s.name, state: s.state }));
    const isReady = archive.readable && !connections.some((s) => s.state !== null && NOT_READY.has(s.state));
    return c.json({ ready: isReady, archive, connections }, isReady ? 200 : 503, JSON_HEADERS);
  });
}
