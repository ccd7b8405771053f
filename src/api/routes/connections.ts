/**
 * `GET /api/v1/connections`, `/{name}` and `/{name}/status` (viewer): the configured connections
 * without their secrets, and what their runners report now beside what the archive holds of each.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { MailsluiceError } from '../../core/errors/index.js';
import type { ConnectionStatus } from '../../core/connection/connection-runner.js';
import type { ApiApp } from '../api-app.js';
import { JSON_HEADERS } from '../api-app.js';
import type { ApiDeps, ConnectionSettings } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { versionHeaders } from './config-edits.js';
import { ACCESS_ANSWERS, ConnectionSchema, ConnectionStatusSchema, errorAnswer, jsonAnswer } from '../schemas.js';

type ConnectionStatusBody = z.infer<typeof ConnectionStatusSchema>;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The runners of `name`: labelled with it, or `<name>/<folder>` when it drains several folders. */
function runnersOf(name: string, statuses: readonly ConnectionStatus[]): ConnectionStatus[] {
  return statuses.filter((s) => s.name === name || s.name.startsWith(`${name}/`));
}

function folderStatus(c: ConnectionSettings, s: ConnectionStatus): ConnectionStatusBody['folders'][number] {
  return {
    folder: s.name === c.name ? (c.folders[0] ?? '') : s.name.slice(c.name.length + 1),
    state: s.state,
    lastPollAt: iso(s.lastPollAt),
    taken: s.taken,
    bytes: s.bytes,
    failed: s.failed,
    cycles: s.cycles,
    failures: s.failures,
    lastError: s.lastError ? { code: s.lastError.code, message: s.lastError.message, at: new Date(s.lastError.at).toISOString() } : null,
    lastSuccessAt: iso(s.lastSuccessAt),
    nextAttemptAt: iso(s.nextAttemptAt ?? null),
    startedAt: new Date(s.startedAt).toISOString(),
    sessions: s.sessions,
    backlog: s.backlog,
    rateLastMinute: s.rateLastMinute,
  };
}

/**
 * The status of every configured connection; with `counted`, what the archive holds of each
 * (a count over the archive, so `/readyz` leaves it out).
 */
export async function connectionStatuses(deps: ApiDeps, counted: boolean): Promise<ConnectionStatusBody[]> {
  const perConnection = counted ? (await deps.archive.stats()).connections : {};
  const statuses = deps.connections.statuses();
  return deps.connections.configured().map((c) => {
    const runners = runnersOf(c.name, statuses);
    const folders = runners.map((s) => folderStatus(c, s));
    const held = perConnection[c.name];
    const backlog = folders.reduce((n, f) => n + f.backlog, 0);
    const rateLastMinute = Math.round(folders.reduce((n, f) => n + f.rateLastMinute, 0) * 100) / 100;
    // Across its folders: the latest poll, success and error; the soonest next attempt.
    const times = (pick: (s: ConnectionStatus) => number | null | undefined): number[] => runners.map(pick).filter((t): t is number => typeof t === 'number');
    const latest = (pick: (s: ConnectionStatus) => number | null): number | null => (times(pick).length > 0 ? Math.max(...times(pick)) : null);
    const soonest = times((s) => s.nextAttemptAt);
    const erred = runners.reduce<number>((m, s, i) => (s.lastError && (m < 0 || s.lastError.at > runners[m]!.lastError!.at) ? i : m), -1);
    const lastError = erred < 0 ? null : folders[erred]!.lastError;
    return {
      name: c.name,
      enabled: c.enabled,
      state: folders[0]?.state ?? null,
      lastPollAt: iso(latest((s) => s.lastPollAt)),
      lastSuccessAt: iso(latest((s) => s.lastSuccessAt)),
      lastError,
      nextAttemptAt: iso(soonest.length > 0 ? Math.min(...soonest) : null),
      taken: held?.messages ?? 0,
      bytes: held?.bytes ?? 0,
      pendingActions: held?.pendingActions ?? 0,
      backlog,
      rateLastMinute,
      folders,
    };
  });
}

function find<T extends { name: string }>(list: readonly T[], name: string): T {
  const found = list.find((c) => c.name === name);
  if (!found) throw new MailsluiceError('API_NOT_FOUND', `no connection ${JSON.stringify(name.slice(0, 100))} (GET /api/v1/connections lists them)`);
  return found;
}

const nameParam = z.object({ name: z.string().min(1).max(200).openapi({ param: { description: "The connection's system name." } }) });

/** The connections resource. */
export function connectionRoutes(app: ApiApp, deps: ApiDeps): void {
  const viewer = [requireRole(deps.authorize, 'viewer')];
  const notFound = { 404: errorAnswer('No connection with this name (API_NOT_FOUND).') };
  const list = createRoute({
    method: 'get',
    path: '/api/v1/connections',
    operationId: 'listConnections',
    summary: 'The configured connections (role viewer)',
    security: BEARER,
    middleware: viewer,
    responses: { 200: jsonAnswer('Every configured connection, enabled or not; secrets are never shown.', z.object({ connections: z.array(ConnectionSchema) })), ...ACCESS_ANSWERS },
  });
  const one = createRoute({
    method: 'get',
    path: '/api/v1/connections/{name}',
    operationId: 'getConnection',
    summary: 'One connection (role viewer)',
    security: BEARER,
    middleware: viewer,
    request: { params: nameParam },
    responses: { 200: jsonAnswer('The connection with every setting (`settings`, what an edit form starts from); secrets are never shown.', ConnectionSchema), ...ACCESS_ANSWERS, ...notFound },
  });
  const status = createRoute({
    method: 'get',
    path: '/api/v1/connections/{name}/status',
    operationId: 'getConnectionStatus',
    summary: "A connection's live status (role viewer)",
    security: BEARER,
    middleware: viewer,
    request: { params: nameParam },
    responses: { 200: jsonAnswer('What its runners (one per folder) report now, and what the archive holds of it.', ConnectionStatusSchema), ...ACCESS_ANSWERS, ...notFound },
  });
  app.openapi(list, (c) => c.json({ connections: [...deps.connections.configured()] }, 200, versionHeaders(deps)));
  app.openapi(one, (c) => {
    const { name } = c.req.valid('param');
    const settings = deps.connections.stored?.(name);
    return c.json({ ...find(deps.connections.configured(), name), ...(settings ? { settings } : {}) }, 200, versionHeaders(deps));
  });
  app.openapi(status, async (c) => {
    const { name } = c.req.valid('param');
    find(deps.connections.configured(), name);
    return c.json(find(await connectionStatuses(deps, true), name), 200, JSON_HEADERS);
  });
}
