/**
 * The archive read back whole (issue 16, item 5; ADR 0031): `POST /api/v1/archive/verify`
 * (auditor) reads every blob back and holds it against the index, as `mailsluice verify` does,
 * and answers its report; `POST /api/v1/archive/repair` (admin) does the same and indexes the
 * orphan blobs again (the service's index stage parses them). Both recorded on the audit log
 * first. POST: each reads the whole archive, which no cache or prefetch should start.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { MailsluiceError } from '../../core/errors/index.js';
import type { ApiApp } from '../api-app.js';
import { JSON_HEADERS } from '../api-app.js';
import type { ApiDeps } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { recordRequest } from '../audit-request.js';
import { ACCESS_ANSWERS, errorAnswer, jsonAnswer } from '../schemas.js';

const MessageNamedSchema = z.object({
  id: z.number().int().openapi({ description: "The message's id." }),
  connection: z.string(),
  messageId: z.string().nullable().openapi({ description: 'Its Message-ID header, once parsed.' }),
  subject: z.string().nullable(),
});

const ProblemSchema = z.object({
  kind: z.enum(['blob-corrupt', 'blob-missing', 'orphan-blob', 'damaged-record']),
  archiveId: z.string().nullable().openapi({ description: "The blob's SHA-256 (the archive id); null for damage no row names." }),
  ref: z.string().nullable().openapi({ description: 'Where in the blob store.' }),
  detail: z.string(),
  messages: z.array(MessageNamedSchema).openapi({ description: 'The archived messages it touches.' }),
  repairable: z.boolean().openapi({ description: 'Whether a repair can set it right (an orphan blob only).' }),
  blob: z.object({ sha256: z.string(), ref: z.string(), size: z.number().int(), storedSize: z.number().int() }).optional(),
  repairedAs: z.number().int().optional().openapi({ description: 'The message id a repair indexed it as.' }),
});

/** `mailsluice verify --json`'s report. */
export const VerifyReportSchema = z
  .object({
    ok: z.boolean().openapi({ description: 'Nothing wrong (after a repair: nothing it left).' }),
    startedAt: z.string().openapi({ format: 'date-time' }),
    seconds: z.number(),
    containers: z.number().int().openapi({ description: 'Packs read.' }),
    records: z.number().int(),
    bytesRead: z.number().int(),
    rawBytes: z.number().int(),
    mbPerSecond: z.number(),
    catalogueRows: z.number().int(),
    messages: z.number().int(),
    newerThanScan: z.number().int().openapi({ description: 'Blobs written after the read began, not judged.' }),
    duplicates: z.number().int(),
    tornTails: z.number().int(),
    problems: z.array(ProblemSchema),
    repair: z.object({ reindexed: z.number().int(), left: z.number().int() }).optional(),
  })
  .openapi('VerifyReport');

function verifierOf(deps: ApiDeps): NonNullable<ApiDeps['verifyArchive']> {
  if (!deps.verifyArchive) throw new MailsluiceError('API_NOT_FOUND', 'this API does not verify the archive');
  return deps.verifyArchive;
}

/** The verification resource. */
export function archiveVerifyRoutes(app: ApiApp, deps: ApiDeps): void {
  const answers = { 200: jsonAnswer('The report (problems found are a 200 with `ok: false`).', VerifyReportSchema), ...ACCESS_ANSWERS, 404: errorAnswer('This API does not verify the archive.') };
  const verify = createRoute({
    method: 'post',
    path: '/api/v1/archive/verify',
    operationId: 'verifyArchive',
    summary: 'Read every blob back and check it against the index (role auditor)',
    description: 'As `mailsluice verify`: every blob decompressed and its SHA-256 checked against its address, every archived message against its blob and every blob against a message; what is wrong is named by message. Changes nothing. Takes as long as reading the archive.',
    security: BEARER,
    middleware: [requireRole(deps.authorize, 'auditor')],
    responses: answers,
  });
  const repair = createRoute({
    method: 'post',
    path: '/api/v1/archive/repair',
    operationId: 'repairArchive',
    summary: 'Verify, and index orphan blobs again (role admin)',
    description: 'As `mailsluice verify --repair`: an intact blob no archived message refers to is archived again under the connection `(repaired)` and parsed by the index stage; a damaged or missing blob cannot be repaired and stays in the report.',
    security: BEARER,
    middleware: [requireRole(deps.authorize, 'admin')],
    responses: answers,
  });
  app.openapi(verify, async (c) => {
    const run = verifierOf(deps);
    await recordRequest(c, deps, 'archive.verify', {});
    return c.json(await run(false), 200, JSON_HEADERS);
  });
  app.openapi(repair, async (c) => {
    const run = verifierOf(deps);
    await recordRequest(c, deps, 'archive.repair', {});
    return c.json(await run(true), 200, JSON_HEADERS);
  });
}
