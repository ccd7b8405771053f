/**
 * Retention (issue 16, item 3; docs/retention.md): `GET /api/v1/archive/retention` (viewer: the
 * rules as configured, the last purge's report, when the next purge runs) and
 * `POST /api/v1/archive/purge` (admin: the purge now, or with `dryRun` what would go, changing
 * nothing), recorded on the audit log first. POST: a purge removes messages; a dry run reads the
 * whole index, which no cache or prefetch should start.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { MailsluiceError } from '../../core/errors/index.js';
import type { ApiApp } from '../api-app.js';
import { JSON_HEADERS } from '../api-app.js';
import type { ApiDeps } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { recordRequest } from '../audit-request.js';
import { ACCESS_ANSWERS, errorAnswer, jsonAnswer } from '../schemas.js';

const PurgeItemSchema = z.object({
  id: z.number().int().openapi({ description: "The message's id." }),
  connection: z.string(),
  sha256: z.string().openapi({ description: 'Its archive id.' }),
  size: z.number().int(),
  takenAt: z.string().openapi({ format: 'date-time', description: 'When it was archived.' }),
  receivedDate: z.string().nullable().openapi({ description: 'Its Date header as saved (written by the sender).' }),
  rule: z.string().openapi({ description: 'The rule that decided; `(default)` for archive.retention.default.' }),
});

/** The databases' files before and after the purge's compaction (ADR 0037, the databases' space). */
const DatabaseSpaceSchema = z
  .object({
    files: z
      .record(z.string(), z.object({ bytesBefore: z.number().int(), bytesAfter: z.number().int() }))
      .openapi({ description: 'Per file (archive.db, archive.db-wal, search.db, search.db-wal): allocated bytes on disk before and after.' }),
    bytesBefore: z.number().int(),
    bytesAfter: z.number().int(),
    converted: z.array(z.string()).openapi({ description: 'The databases converted to incremental auto-vacuum now (one full VACUUM, once per file).' }),
    seconds: z.number(),
  })
  .openapi('PurgeDatabaseSpace', { description: 'Absent when the purge removed nothing (no compaction).' });

/** What a purge did, or a dry run would do. */
export const PurgeReportSchema = z
  .object({
    dryRun: z.boolean(),
    asOf: z.string().openapi({ format: 'date-time', description: 'The instant retention was judged at.' }),
    startedAt: z.string().openapi({ format: 'date-time' }),
    seconds: z.number(),
    scanned: z.number().int().openapi({ description: 'Messages looked at.' }),
    expired: z.number().int().openapi({ description: 'Past their retention.' }),
    purged: z.number().int().openapi({ description: 'Removed (dry run: would be).' }),
    bytesPurged: z.number().int(),
    blobsRemoved: z.number().int().openapi({ description: 'Catalogue rows of blobs no other message shares, removed.' }),
    keptByHolds: z.number().int().openapi({ description: 'Expired but kept by a legal hold.' }),
    holds: z.record(z.string(), z.number().int()).openapi({ description: 'Per hold name, the expired messages it kept.' }),
    keptPending: z.number().int().openapi({ description: 'Expired but not done being processed (not parsed, server action or deliveries pending), or a journal report merged into it: kept.' }),
    auditRecords: z.array(z.number().int()).openapi({ description: 'The archive.purge audit records written (sequence numbers).' }),
    searchRowsSettled: z.number().int().openapi({ description: 'Full-text rows an interrupted purge left, removed now.' }),
    space: z
      .object({
        packsRewritten: z.number().int(),
        bytesBefore: z.number().int().openapi({ description: 'The blob store on disk before reclaiming, bytes.' }),
        bytesAfter: z.number().int(),
        databases: DatabaseSpaceSchema.optional(),
      })
      .nullable(),
    items: z.array(PurgeItemSchema).optional().openapi({ description: 'What went (or would go): the first 1,000, without subjects or addresses.' }),
    error: z.string().optional().openapi({ description: 'A scheduled purge that failed: its code and sentence.' }),
  })
  .openapi('PurgeReport');

const PurgeBody = z
  .object({
    dryRun: z.boolean().optional().openapi({ description: 'List what would go and change nothing.' }),
    asOf: z.string().datetime({ offset: true }).optional().openapi({ description: 'With dryRun only: judge retention at this instant instead of now.' }),
  })
  .openapi('PurgeRequest');

const MatchSchema = z.object({
  connection: z.array(z.string()).optional(),
  route: z.array(z.string()).optional(),
  address: z.array(z.string()).optional(),
  domain: z.array(z.string()).optional(),
});

/** The retention settings with the last and next purge. */
export const RetentionViewSchema = z
  .object({
    everyHours: z.number().openapi({ description: 'Hours between the purges of start.' }),
    default: z.string().nullable().openapi({ description: 'How long a message no rule matches is kept; null: for ever.' }),
    rules: z.array(z.object({ name: z.string(), keep: z.string(), since: z.enum(['archived', 'received']), match: MatchSchema })),
    lastPurge: z.union([PurgeReportSchema, z.null()]),
    nextPurgeAt: z.string().nullable().openapi({ format: 'date-time', description: 'When start purges next; null: no rule and no default, nothing is ever purged.' }),
  })
  .openapi('RetentionView');

function retentionOf(deps: ApiDeps): NonNullable<ApiDeps['retention']> {
  if (!deps.retention) throw new MailsluiceError('API_NOT_FOUND', 'this API does not purge the archive (only a running start does)');
  return deps.retention;
}

/** The retention resource. */
export function archiveRetentionRoutes(app: ApiApp, deps: ApiDeps): void {
  const notFound = { 404: errorAnswer('This API does not purge the archive (a drain, not start).') };
  const view = createRoute({
    method: 'get',
    path: '/api/v1/archive/retention',
    operationId: 'getRetention',
    summary: 'The retention rules, the last purge and the next (role viewer)',
    security: BEARER,
    middleware: [requireRole(deps.authorize, 'viewer')],
    responses: { 200: jsonAnswer('The rules as configured, the last purge report and when the next purge runs.', RetentionViewSchema), ...ACCESS_ANSWERS, ...notFound },
  });
  const purge = createRoute({
    method: 'post',
    path: '/api/v1/archive/purge',
    operationId: 'purgeArchive',
    summary: 'Remove the messages past their retention now, or list them (role admin)',
    description:
      'As `mailsluice purge`: the expired messages removed in batches, each batch in one transaction with an `archive.purge` audit record naming the ids and SHA-256s; held and pending messages kept and counted. With `dryRun` nothing changes and `items` lists what would go.',
    security: BEARER,
    middleware: [requireRole(deps.authorize, 'admin')],
    request: { body: { content: { 'application/json': { schema: PurgeBody } }, required: false } },
    responses: { 200: jsonAnswer('The report.', PurgeReportSchema), 400: errorAnswer('The body is malformed, or asOf without dryRun (API_BAD_REQUEST).'), ...ACCESS_ANSWERS, ...notFound },
  });
  app.openapi(view, async (c) => c.json(await retentionOf(deps).view(), 200, JSON_HEADERS));
  app.openapi(purge, async (c) => {
    const r = retentionOf(deps);
    const body = (c.req.valid('json') as z.infer<typeof PurgeBody> | undefined) ?? {};
    if (body.asOf !== undefined && !body.dryRun) throw new MailsluiceError('API_BAD_REQUEST', 'asOf is only allowed with dryRun: a purge judges retention now');
    const dryRun = body.dryRun === true;
    await recordRequest(c, deps, dryRun ? 'archive.purge.dry-run' : 'archive.purge.request', body.asOf ? { asOf: body.asOf } : {});
    const asOf = body.asOf !== undefined ? Date.parse(body.asOf) : undefined;
    return c.json(await r.purge(c.get('principal').name, { dryRun, ...(asOf !== undefined ? { asOf } : {}) }), 200, JSON_HEADERS);
  });
}
