/** `GET /healthz`: the process is up and its HTTP API answers (for a supervisor or load balancer). */
import { json, type ApiRoute } from '../router.js';

/** The health resource. */
export function healthRoutes(): ApiRoute[] {
  return [{ method: 'GET', path: '/healthz', handle: () => json(200, { ok: true }) }];
}
