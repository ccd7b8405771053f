/**
 * Export of a search result (auditor): `GET /api/v1/messages/export?format=mbox|zip&<filters>`,
 * recorded on the audit log with its query first (`archive.export`), then streamed one message at
 * a time as the client takes the bytes (`../export-writer.ts`: mbox, or a zip of `<sha256>.eml`
 * files and `manifest.jsonl`), the messages those of `core/archive/export-selection.ts` (search
 * pages one after another: no cap), and recorded again when the client has had the last byte
 * (`archive.export.done`: how many messages, and the zip's manifest hash).
 */
import { Readable } from 'node:stream';
import { createRoute, z } from '@hono/zod-openapi';
import { openExportSelection } from '../../core/archive/export-selection.js';
import type { ApiApp } from '../api-app.js';
import type { ApiDeps } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { ATTACHMENT_SAFETY_HEADERS } from '../attachment-headers.js';
import { ACCESS_ANSWERS, errorAnswer } from '../schemas.js';
import { recordRequest, remoteAddress } from '../audit-request.js';
import { writeExport } from '../export-writer.js';
import { SearchParams, searchQuery } from './messages.js';

export { fromLine, mboxEntry } from '../export-writer.js';

const ExportParams = SearchParams.omit({ cursor: true, limit: true, excerpts: true }).extend({
  format: z.enum(['mbox', 'zip']).openapi({ param: { description: '`mbox` (mboxrd) or `zip` (`<sha256>.eml` files and `manifest.jsonl`).' } }),
});

const exportRoute = createRoute({
  method: 'get',
  path: '/api/v1/messages/export',
  operationId: 'exportMessages',
  summary: 'Export the messages a search finds, as mbox or zip (role auditor)',
  description:
    'Every message the filters match (as `GET /api/v1/messages`), newest first, read a search page at a time and streamed as a download: no cap. ' +
    'With no filter at all, every archived message, oldest first (journal reports merged into another included). docs/export.md says how a recipient verifies a zip.',
  security: BEARER,
  request: { query: ExportParams },
  responses: {
    200: {
      description:
        'The export, as an attachment: mbox (mboxrd: `From ` lines, `>From` quoting) or a zip of `<sha256>.eml` files (stored) and `manifest.jsonl` last: ' +
        'a first line with the query, a line per message (`file`, `sha256`, `archiveId`, `id`, `size`, `connection`, `mailbox`, `receivedAt`, `date`, `messageId`) and a last line ' +
        '(`end`, `messages`, `files`, `bytes`, `manifestSha256`: the SHA-256 of the manifest before that line).',
      content: {
        'application/mbox': { schema: z.string().openapi({ format: 'binary' }) },
        'application/zip': { schema: z.string().openapi({ format: 'binary' }) },
      },
    },
    400: errorAnswer('A parameter is malformed (API_BAD_REQUEST) or `text` cannot be read as a query (SEARCH_QUERY_INVALID).'),
    ...ACCESS_ANSWERS,
  },
});

/** The export resource. */
export function exportRoutes(app: ApiApp, deps: ApiDeps): void {
  const auditor = { middleware: [requireRole(deps.authorize, 'auditor')] };
  app.openapi({ ...exportRoute, ...auditor }, async (c) => {
    const { format, ...filters } = c.req.valid('query');
    await recordRequest(c, deps, 'archive.export', { format, ...filters });
    const query = searchQuery(filters);
    // The first page is read before the answer starts: a query that cannot be read is a 400.
    const items = await openExportSelection(
      { search: (q) => deps.search.search(q), listForExport: (name) => deps.archive.listForExport(name), exportItemsOf: (ids) => deps.archive.exportItemsOf(ids) },
      query,
    );
    const out = writeExport(format, items, deps.blobs, { query: { ...filters }, createdAt: new Date(deps.now()).toISOString() });
    const who = c.get('principal').name;
    const origin = remoteAddress(c);
    out.stream.on('error', (err) => deps.logger.warn('export stopped', { error: err.message }));
    // Recorded once the client has taken the last byte: what it received, and the zip's manifest hash.
    out.stream.on('end', () => {
      void deps.record?.(who, origin, 'archive.export.done', { format, ...filters, ...out.totals() }).catch((err: unknown) =>
        deps.logger.warn('the end of an export could not be recorded on the audit log', { error: err instanceof Error ? err.message : String(err) }),
      );
    });
    const name = `mailsluice-export.${format === 'mbox' ? 'mbox' : 'zip'}`;
    return c.body(Readable.toWeb(out.stream) as ReadableStream<Uint8Array>, 200, {
      ...ATTACHMENT_SAFETY_HEADERS,
      'Content-Type': format === 'mbox' ? 'application/mbox' : 'application/zip',
      'Content-Disposition': `attachment; filename="${name}"`,
    });
  });
}
