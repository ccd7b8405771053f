/**
 * The audit log (auditor; issue 14, item 4): `GET /api/v1/audit` lists its records oldest first,
 * paged with a cursor and filtered by time and by who; `GET /api/v1/audit/verify` walks the chain
 * as `mailsluice audit verify` does and answers its verdict.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { MailsluiceError } from '../../core/errors/index.js';
import type { ApiApp } from '../api-app.js';
import { JSON_HEADERS } from '../api-app.js';
import type { ApiDeps, AuditView } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { ACCESS_ANSWERS, AuditPageSchema, AuditVerdictSchema, errorAnswer, jsonAnswer } from '../schemas.js';

/** Records per page unless `limit` says otherwise, and the most it may say. */
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

const isoDate = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), { error: 'must be an ISO 8601 date or date-time' })
  .openapi({ example: '2026-01-31T00:00:00Z' });

const AuditParams = z.object({
  since: isoDate.optional().openapi({ param: { description: 'Records at or after.' } }),
  until: isoDate.optional().openapi({ param: { description: 'Records before.' } }),
  who: z.string().min(1).max(200).optional().openapi({ param: { description: 'Only the records of this token name or OS user.' } }),
  cursor: z
    .string()
    .regex(/^[0-9]{1,15}$/, { error: 'must be the `next` of an earlier page, as it was given' })
    .optional()
    .openapi({ param: { description: 'The `next` of the page before; absent for the first page.' } }),
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).optional().openapi({ param: { description: `Records per page (default ${DEFAULT_LIMIT}).` }, type: 'integer' }),
});

function auditOf(deps: ApiDeps): AuditView {
  if (!deps.audit) throw new MailsluiceError('API_NOT_FOUND', 'this API has no audit log');
  return deps.audit;
}

/** The audit resource. */
export function auditRoutes(app: ApiApp, deps: ApiDeps): void {
  const auditor = [requireRole(deps.authorize, 'auditor')];
  const list = createRoute({
    method: 'get',
    path: '/api/v1/audit',
    operationId: 'listAudit',
    summary: 'The audit log (role auditor)',
    description: 'Oldest first. A page holds up to `limit` records and the `next` cursor.',
    security: BEARER,
    middleware: auditor,
    request: { query: AuditParams },
    responses: { 200: jsonAnswer('One page of records.', AuditPageSchema), 400: errorAnswer('A parameter is malformed (API_BAD_REQUEST, naming it).'), ...ACCESS_ANSWERS },
  });
  const verify = createRoute({
    method: 'get',
    path: '/api/v1/audit/verify',
    operationId: 'verifyAudit',
    summary: "The audit chain's verdict (role auditor)",
    description: 'Walks every record and the head kept apart from them, as `mailsluice audit verify` does: `ok`, or the first record removed or altered.',
    security: BEARER,
    middleware: auditor,
    responses: { 200: jsonAnswer('The verdict (a broken chain is a 200 with `ok: false`).', AuditVerdictSchema), ...ACCESS_ANSWERS },
  });
  app.openapi(list, async (c) => {
    const p = c.req.valid('query');
    const limit = p.limit ?? DEFAULT_LIMIT;
    // One more than the page: whether there is a next one.
    const records = await auditOf(deps).list({
      ...(p.since !== undefined ? { since: Date.parse(p.since) } : {}),
      ...(p.until !== undefined ? { until: Date.parse(p.until) } : {}),
      ...(p.who !== undefined ? { who: p.who } : {}),
      ...(p.cursor !== undefined ? { afterSeq: Number(p.cursor) } : {}),
      limit: limit + 1,
    });
    const page = records.slice(0, limit);
    const next = records.length > limit ? String(page[page.length - 1]!.seq) : null;
    return c.json({ records: page, next }, 200, JSON_HEADERS);
  });
  app.openapi(verify, async (c) => c.json(await auditOf(deps).verify(), 200, JSON_HEADERS));
}
