/**
 * The audit log (auditor; issue 14, item 4): `GET /api/v1/audit` lists its records oldest first
 * (or with `order=newest` the newest first, as the console shows them), paged with a cursor and
 * filtered by time, by who and by action; `GET /api/v1/audit/verify` walks the chain
 * as `mailsluice audit verify` does and answers its verdict (`withArchive=true`: the archive
 * files first); `POST /api/v1/audit/prune` (admin) moves old records to the archive files now,
 * as `mailsluice audit prune` (ADR 0029).
 */
import { createRoute, z } from '@hono/zod-openapi';
import { MailsluiceError } from '../../core/errors/index.js';
import type { ApiApp } from '../api-app.js';
import { JSON_HEADERS } from '../api-app.js';
import type { ApiDeps, AuditView } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { recordRequest } from '../audit-request.js';
import { ACCESS_ANSWERS, AuditPageSchema, AuditPruneSchema, AuditVerdictSchema, errorAnswer, jsonAnswer } from '../schemas.js';

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
  action: z.string().min(1).max(200).optional().openapi({ param: { description: 'Only the records of this action (`archive.search`, `token.create`…).' } }),
  order: z.enum(['oldest', 'newest']).optional().openapi({ param: { description: 'Oldest first (default) or newest first; a cursor pages on in the order it was given in.' } }),
  cursor: z
    .string()
    .regex(/^[0-9]{1,15}$/, { error: 'must be the `next` of an earlier page, as it was given' })
    .optional()
    .openapi({ param: { description: 'The `next` of the page before; absent for the first page.' } }),
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).optional().openapi({ param: { description: `Records per page (default ${DEFAULT_LIMIT}).` }, type: 'integer' }),
});

const VerifyParams = z.object({
  withArchive: z
    .enum(['true', 'false'])
    .optional()
    .openapi({ param: { description: 'Also walk the archive files in dataDir/audit-archive/ from the first record (each trailer, hash and link), ending where the checkpoint begins.' } }),
});

const PruneBody = z.strictObject({
  keepDays: z.number().int().min(1).max(36_500).optional().openapi({ description: 'Move records older than this many days; absent, the configured audit.keepDays.' }),
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
    description: 'Oldest first, or newest first with `order=newest`. A page holds up to `limit` records and the `next` cursor (pass the same `order` with it).',
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
    description:
      'Walks every record from the retention checkpoint (or the first) and the head kept apart from them, as `mailsluice audit verify` does: `ok`, or the first record removed or altered; with `withArchive=true` the archive files first, naming the first bad file.',
    security: BEARER,
    middleware: auditor,
    request: { query: VerifyParams },
    responses: { 200: jsonAnswer('The verdict (a broken chain is a 200 with `ok: false`).', AuditVerdictSchema), 400: errorAnswer('A parameter is malformed (API_BAD_REQUEST, naming it).'), ...ACCESS_ANSWERS },
  });
  const prune = createRoute({
    method: 'post',
    path: '/api/v1/audit/prune',
    operationId: 'pruneAudit',
    summary: 'Move old audit records to the archive files now (role admin)',
    description:
      'Records older than `keepDays` (default `audit.keepDays`) move, oldest first, to sealed files in dataDir/audit-archive/, and the live chain then starts at a checkpoint (ADR 0029). `start` does this daily by itself. Recorded on the audit log before it is done.',
    security: BEARER,
    middleware: [requireRole(deps.authorize, 'admin')],
    request: { body: { content: { 'application/json': { schema: PruneBody } }, required: true } },
    responses: {
      200: jsonAnswer('What was moved.', AuditPruneSchema),
      400: errorAnswer('The body is malformed (API_BAD_REQUEST, naming the field).'),
      ...ACCESS_ANSWERS,
      404: errorAnswer('Nothing here runs the retention (only `start` does).'),
      409: errorAnswer('No keepDays given and none configured (AUDIT_RETENTION_NOT_SET).'),
      500: errorAnswer('The records to move do not verify (AUDIT_CHAIN_BROKEN); nothing was moved.'),
    },
  });
  app.openapi(list, async (c) => {
    const p = c.req.valid('query');
    const limit = p.limit ?? DEFAULT_LIMIT;
    // One more than the page: whether there is a next one.
    const records = await auditOf(deps).list({
      ...(p.since !== undefined ? { since: Date.parse(p.since) } : {}),
      ...(p.until !== undefined ? { until: Date.parse(p.until) } : {}),
      ...(p.who !== undefined ? { who: p.who } : {}),
      ...(p.action !== undefined ? { action: p.action } : {}),
      ...(p.order === 'newest' ? { newestFirst: true } : {}),
      // The cursor is the last record shown: the next page starts beyond it, in the order asked for.
      ...(p.cursor !== undefined ? (p.order === 'newest' ? { beforeSeq: Number(p.cursor) } : { afterSeq: Number(p.cursor) }) : {}),
      limit: limit + 1,
    });
    const page = records.slice(0, limit);
    const next = records.length > limit ? String(page[page.length - 1]!.seq) : null;
    return c.json({ records: page, next }, 200, JSON_HEADERS);
  });
  app.openapi(verify, async (c) => c.json(await auditOf(deps).verify({ withArchive: c.req.valid('query').withArchive === 'true' }), 200, JSON_HEADERS));
  app.openapi(prune, async (c) => {
    const { keepDays } = c.req.valid('json');
    const view = auditOf(deps);
    if (!view.prune) throw new MailsluiceError('API_NOT_FOUND', 'this command runs no audit retention (mailsluice start does)');
    await recordRequest(c, deps, 'audit.prune', keepDays !== undefined ? { keepDays } : {});
    return c.json(await view.prune(keepDays), 200, JSON_HEADERS);
  });
}
