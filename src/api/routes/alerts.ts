/**
 * The alerts resource (issue 14, item 6): `GET /api/v1/alerts` (viewer) lists every rule with its
 * state (ok or firing, since when, last sent, last send error); `POST /api/v1/alerts/{rule}/test`
 * (admin, audited) sends a test notification of the rule to its channels now and answers per
 * channel whether it got through; `PATCH /api/v1/alerts/{rule}` (admin, audited; issue 15) changes
 * the rule in the configuration file as the connections' and routes' edits do (`config-edits.ts`:
 * comments kept, `If-Match`, applied live, ADR 0024), its problems named by field.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { MailsluiceError } from '../../core/errors/index.js';
import type { AlertState } from '../../core/alerts/index.js';
import type { ApiApp } from '../api-app.js';
import { JSON_HEADERS } from '../api-app.js';
import type { ApiDeps } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { recordRequest } from '../audit-request.js';
import { ACCESS_ANSWERS, AlertSchema, AlertTestSchema, errorAnswer, jsonAnswer } from '../schemas.js';
import { AlertRulePatchSchema, AlertWriteSchema } from '../config-write-schemas.js';
import { IF_MATCH, objectBody, versionHeaders, write, WRITE_ANSWERS } from './config-edits.js';

const ruleParam = z.object({ rule: z.string().min(1).max(200).openapi({ param: { description: "The rule's name." } }) });

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function shown(s: AlertState): z.infer<typeof AlertSchema> {
  return {
    rule: s.rule,
    kind: s.kind,
    enabled: s.enabled,
    channels: s.channels,
    settings: s.settings,
    state: s.state,
    since: iso(s.since),
    summary: s.summary,
    lastSentAt: iso(s.lastSentAt),
    lastError: s.lastError ? { channel: s.lastError.channel, code: s.lastError.code, message: s.lastError.message, at: iso(s.lastError.at)! } : null,
    owed: s.owed,
  };
}

/** The alerts resource. */
export function alertRoutes(app: ApiApp, deps: ApiDeps): void {
  const list = createRoute({
    method: 'get',
    path: '/api/v1/alerts',
    operationId: 'listAlerts',
    summary: 'The alert rules and their state (role viewer)',
    description: "Every rule of `alerts.rules`, as the running service last checked it. Empty when no rule is configured. Where the configuration is edited here, the file's version is the ETag (send it as If-Match with a PATCH).",
    security: BEARER,
    middleware: [requireRole(deps.authorize, 'viewer')],
    responses: { 200: jsonAnswer('Every rule, in the configuration\'s order.', z.object({ alerts: z.array(AlertSchema) })), ...ACCESS_ANSWERS },
  });
  const test = createRoute({
    method: 'post',
    path: '/api/v1/alerts/{rule}/test',
    operationId: 'testAlert',
    summary: 'Send a test notification of a rule (role admin)',
    description: "Sends a notification of event `test` (with the rule's current finding) to each of the rule's channels now, and answers per channel whether it got through; the rule's state is not changed. Recorded on the audit log.",
    security: BEARER,
    middleware: [requireRole(deps.authorize, 'admin')],
    request: { params: ruleParam },
    responses: { 200: jsonAnswer('One result per channel (a channel that failed has its code and why).', AlertTestSchema), ...ACCESS_ANSWERS, 404: errorAnswer('No rule with this name (API_NOT_FOUND).') },
  });
  const patch = createRoute({
    method: 'patch',
    path: '/api/v1/alerts/{rule}',
    operationId: 'updateAlertRule',
    summary: 'Change an alert rule (role admin)',
    description:
      "A JSON merge patch of the rule in `alerts.rules[]` of the configuration file (comments and order of the rest kept), checked as `config check` checks the file, recorded on the audit log with the keys it changes, and applied to the running service at once (a rule whose condition is unchanged keeps its state).",
    security: BEARER,
    middleware: [requireRole(deps.authorize, 'admin')],
    request: { params: ruleParam, headers: IF_MATCH, body: { content: { 'application/json': { schema: AlertRulePatchSchema } }, required: true } },
    responses: { 200: jsonAnswer('The rule after the change, the file\'s new version, and what applying it did.', AlertWriteSchema), ...WRITE_ANSWERS, 404: errorAnswer('No rule with this name (API_NOT_FOUND), or this command does not edit the configuration.') },
  });
  app.openapi(list, (c) => c.json({ alerts: (deps.alerts?.states() ?? []).map(shown) }, 200, versionHeaders(deps)));
  app.openapi(patch, (c) => write(c, deps, 'alert', { op: 'patch', name: c.req.valid('param').rule, patch: objectBody(c) }, 'config.alert.update', 200) as never);
  app.openapi(test, async (c) => {
    const { rule } = c.req.valid('param');
    const notFound = (): never => {
      throw new MailsluiceError('API_NOT_FOUND', `no alert rule ${JSON.stringify(rule.slice(0, 100))} (GET /api/v1/alerts lists them)`);
    };
    if (!deps.alerts?.states().some((s) => s.rule === rule)) notFound();
    await recordRequest(c, deps, 'alerts.test', { rule });
    const result = (await deps.alerts!.test(rule)) ?? notFound();
    return c.json(result, 200, JSON_HEADERS);
  });
}
