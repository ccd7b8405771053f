/**
 * The archive (auditor): `GET /api/v1/messages` searches it in the query language of `mailsluice
 * search` (`q`, docs/search.md), newest first, paged with an opaque cursor; `GET /api/v1/messages/{archiveId}` is one message's attributes
 * (its attachments with signed download links), `/raw` its `.eml`, `/html` its HTML body
 * sandboxed (`message-html.ts`).
 */
import { createRoute, z } from '@hono/zod-openapi';
import { MailsluiceError } from '../../core/errors/index.js';
import type { SearchQuery } from '../../core/ports/search-index.js';
import type { ApiApp } from '../api-app.js';
import { JSON_HEADERS } from '../api-app.js';
import { API_TUNING, type ApiDeps } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { ATTACHMENT_SAFETY_HEADERS } from '../attachment-headers.js';
import { ACCESS_ANSWERS, errorAnswer, hexSha256, jsonAnswer, MessageSchema, SearchPageSchema } from '../schemas.js';
import { messageContent } from './message-content.js';
import { messageHtmlRoutes } from './message-html.js';
import { recordRequest } from '../audit-request.js';
import { excerpt, plainText } from './excerpt.js';
import { mapInLanes } from '../../core/concurrency/lanes.js';
import { allOf, highlightTerms, parseSearchQuery, type QueryNode } from '../../core/search/query-language.js';

/** Hits per page unless `limit` says otherwise, and the most it may say. */
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;
/** The cursor's text: the id the next page starts below, behind a tag so a client treats it as opaque. */
const CURSOR = /^n([0-9a-z]{1,11})$/u;

/** The cursor of the page after the hit `id`. */
export function cursorAfter(id: number): string {
  return `n${id.toString(36)}`;
}

/** The id a cursor's page starts below; API_BAD_REQUEST for a cursor this API did not give. */
function cursorId(cursor: string): number {
  const m = CURSOR.exec(cursor);
  const id = m ? parseInt(m[1]!, 36) : NaN;
  if (!Number.isSafeInteger(id) || id < 1) throw new MailsluiceError('API_BAD_REQUEST', 'cursor: must be the `nextCursor` of an earlier page, as it was given');
  return id;
}

const isoDate = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), { error: 'must be an ISO 8601 date or date-time' })
  .openapi({ example: '2026-01-31' });

/** The search filters and paging of `GET /api/v1/messages` (the export takes its filters). */
export const SearchParams = z.object({
  q: z
    .string()
    .max(2000)
    .optional()
    .openapi({
      param: {
        description:
          'The query (docs/search.md): words, "phrases", `word*`, `from:` `to:` `cc:` `bcc:` `subject:` `attachment:` `has:attachment` `before:` `after:` `connection:`, `AND`, `OR`, `-` and parentheses; e.g. `from:alice subject:"q1 report" after:2024-03 -draft`.',
      },
      example: 'from:alice invoice after:2024-03',
    }),
  text: z.string().max(2000).optional().openapi({ param: { description: 'The same language as `q` (its older name), AND-ed with it.' } }),
  from: z.string().max(500).optional().openapi({ param: { description: 'A part of the sender.' } }),
  to: z.string().max(500).optional().openapi({ param: { description: 'A part of a recipient (To, Cc, Bcc).' } }),
  since: isoDate.optional().openapi({ param: { description: 'Messages dated at or after.' } }),
  before: isoDate.optional().openapi({ param: { description: 'Messages dated before.' } }),
  hasAttachment: z.enum(['true', 'false']).optional().openapi({ param: { description: 'Only messages with (true) or without (false) attachments.' } }),
  connection: z.string().max(200).optional().openapi({ param: { description: 'Only messages taken by this connection.' } }),
  messageId: z.string().min(1).max(998).optional().openapi({ param: { description: 'Only the message(s) with this Message-ID, without angle brackets, exactly (e.g. a connection test\'s probe).' } }),
  cursor: z
    .string()
    .regex(CURSOR, { error: 'must be the `nextCursor` of an earlier page, as it was given' })
    .optional()
    .openapi({ param: { description: 'The `nextCursor` of the page before (opaque); absent for the first page.' } }),
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).optional().openapi({ param: { description: `Hits per page (default ${DEFAULT_LIMIT}).` }, type: 'integer' }),
  excerpts: z
    .enum(['true', 'false'])
    .optional()
    .openapi({ param: { description: 'false: every `excerpt` is "" and no message is read again (a client that shows none, such as `mailsluice search`); default true.' } }),
});

const idParam = z.object({ archiveId: hexSha256.openapi({ param: { description: 'The archived message: the SHA-256 of its raw bytes (`ArchiveId`).' } }) });

const notFound = { 404: errorAnswer('No archived message with this `archiveId` (API_NOT_FOUND).') };

export async function findMessage(deps: ApiDeps, archiveId: string) {
  const message = await deps.archive.findArchived(archiveId);
  if (!message) throw new MailsluiceError('API_NOT_FOUND', `no archived message ${archiveId}`);
  return message;
}

const search = createRoute({
  method: 'get',
  path: '/api/v1/messages',
  operationId: 'searchMessages',
  summary: 'Search the archive (role auditor)',
  description: `Newest first; \`q\` and every other filter given must match. A page holds up to \`limit\` hits, the \`total\` of matches (exact up to ${API_TUNING.searchTotalCap}, then \`more\`: "more than") and the \`nextCursor\` of the next page. Each hit has an \`excerpt\` of its text, cut from the message read again (the index keeps no text), the words of the query's terms marked «…».`,
  security: BEARER,
  request: { query: SearchParams },
  responses: {
    200: jsonAnswer('One page of hits.', SearchPageSchema),
    400: errorAnswer('A parameter is malformed (API_BAD_REQUEST, naming it), or `q` cannot be read as a query (SEARCH_QUERY_INVALID: one line naming the problem and the character).'),
    ...ACCESS_ANSWERS,
  },
});

const view = createRoute({
  method: 'get',
  path: '/api/v1/messages/{archiveId}',
  operationId: 'getMessage',
  summary: "One archived message's attributes (role auditor)",
  security: BEARER,
  request: { params: idParam },
  responses: { 200: jsonAnswer('The message.', MessageSchema), 400: errorAnswer('`archiveId` is not 64 lowercase hex digits (API_BAD_REQUEST).'), ...ACCESS_ANSWERS, ...notFound },
});

const raw = createRoute({
  method: 'get',
  path: '/api/v1/messages/{archiveId}/raw',
  operationId: 'getMessageRaw',
  summary: 'The raw message, as it was taken (role auditor)',
  security: BEARER,
  request: { params: idParam },
  responses: {
    200: {
      description: 'The message as an `.eml` file: exactly the bytes taken from the mailbox (their SHA-256 is the `archiveId`).',
      content: { 'message/rfc822': { schema: z.string().openapi({ format: 'binary' }) } },
    },
    400: errorAnswer('`archiveId` is not 64 lowercase hex digits (API_BAD_REQUEST).'),
    ...ACCESS_ANSWERS,
    ...notFound,
  },
});

/** The query of `p` (`q` AND `text`), read at `now`; null when it has none. */
function queryOf(p: { q?: string | undefined; text?: string | undefined }, now: number): QueryNode | null {
  return allOf(p.q !== undefined ? parseSearchQuery(p.q, { now }) : null, p.text !== undefined ? parseSearchQuery(p.text, { now }) : null);
}

/**
 * The search filters of `p` as the index takes them (no limit): the query of `q` (and `text`)
 * read at `now`, and the older filters beside it.
 *
 * @throws MailsluiceError `SEARCH_QUERY_INVALID` when the query cannot be read.
 */
export function searchQuery(p: Omit<z.infer<typeof SearchParams>, 'cursor' | 'limit' | 'excerpts'>, now: number = Date.now()): SearchQuery {
  const query = queryOf(p, now);
  return {
    ...(query ? { query } : {}),
    ...(p.from !== undefined ? { from: p.from } : {}),
    ...(p.to !== undefined ? { to: p.to } : {}),
    ...(p.since !== undefined ? { since: new Date(p.since).toISOString() } : {}),
    ...(p.before !== undefined ? { before: new Date(p.before).toISOString() } : {}),
    ...(p.hasAttachment !== undefined ? { hasAttachment: p.hasAttachment === 'true' } : {}),
    ...(p.connection !== undefined ? { connection: p.connection } : {}),
    ...(p.messageId !== undefined ? { messageId: p.messageId.replace(/^<(.*)>$/, '$1') } : {}),
  };
}

/**
 * The excerpt of the message `sha256` for the query words `words`: its text re-read from the
 * archive (held against the byte budget while parsed, as the message view is); "" when it
 * is gone or cannot be parsed to any text.
 */
async function hitExcerpt(deps: ApiDeps, sha256: string, words: ReturnType<typeof highlightTerms>): Promise<string> {
  try {
    const message = await deps.archive.findArchived(sha256);
    if (!message) return '';
    const content = await messageContent(deps, message, sha256);
    return content ? excerpt(plainText(content.textBody, content.htmlBody), words) : '';
  } catch (err) {
    // One unreadable message does not fail the page: its hit shows no excerpt, and the log says why.
    deps.logger.warn('search excerpt: the message could not be read again', { archiveId: sha256, error: err instanceof Error ? err.message : String(err) });
    return '';
  }
}

/** One page of a search: keyset paging, each page the hits below the cursor's id (newest first). */
async function searchPage(deps: ApiDeps, p: z.infer<typeof SearchParams>): Promise<z.infer<typeof SearchPageSchema>> {
  const limit = p.limit ?? DEFAULT_LIMIT;
  const query = searchQuery(p, deps.now());
  const beforeId = p.cursor === undefined ? undefined : cursorId(p.cursor);
  // One more than the page: whether there is a next one.
  const hits = await deps.search.search({ ...query, ...(beforeId !== undefined ? { beforeId } : {}), limit: limit + 1 });
  const page = hits.slice(0, limit);
  const next = hits.length > limit ? cursorAfter(page[page.length - 1]!.id) : null;
  // The whole search's total, on every page: exact up to the cap, unless confirming the matches
  // takes longer than the page's share of time (then "more than" what was counted).
  const cap = deps.searchTotalCap ?? API_TUNING.searchTotalCap;
  const counted = await deps.search.count({ ...query, limit: cap }, API_TUNING.searchCountWithinMs);
  const words = highlightTerms(query.query ?? null);
  // A few at a time: the parser's threads kept busy, while no more than that many messages are
  // held (each against the byte budget besides).
  const texts = p.excerpts === 'false' ? [] : await mapInLanes(page, API_TUNING.excerptLanes, (h) => hitExcerpt(deps, h.sha256, words));
  const shown = page.map((h, i) => ({
    id: h.id,
    archiveId: h.sha256,
    connection: h.connection,
    from: h.from,
    subject: h.subject,
    date: h.date,
    size: h.size,
    excerpt: texts[i] ?? '',
    ...(h.probe ? { probe: true as const } : {}),
  }));
  const progress = await deps.indexProgress?.();
  return { hits: shown, total: counted.total, more: counted.more, nextCursor: next, next, ...(progress?.rebuilding ? { reindex: { done: progress.done, total: progress.total } } : {}) };
}

/** What the message view shows of one message. */
async function messageView(deps: ApiDeps, archiveId: string): Promise<z.infer<typeof MessageSchema>> {
  const message = await findMessage(deps, archiveId);
  const now = deps.now();
  const attachments = (message.attachments ?? []).map((a) => ({
    name: a.Name,
    contentType: a.ContentType,
    size: a.Size,
    sha256: a.Sha256,
    url: deps.signer.attachmentUrl(archiveId, a.Sha256, now),
  }));
  const holds = deps.holds ? await deps.holds.holdsOf(archiveId) : [];
  return { archiveId, size: message.size, parsed: message.attachments !== null, attachments, content: await messageContent(deps, message, archiveId), holds };
}

/** The messages resource (the attachments below it are `attachments.ts`). */
export function messageRoutes(app: ApiApp, deps: ApiDeps): void {
  const auditor = { middleware: [requireRole(deps.authorize, 'auditor')] };
  // Each read is recorded before the archive is read (action names as at the command line).
  app.openapi({ ...search, ...auditor }, async (c) => {
    const query = c.req.valid('query');
    // The query as typed under `text`, the key the command line records it under: one audit
    // vocabulary whichever way a search came in (`q` and the older `text` are one language).
    const { q, ...rest } = query;
    const text = q !== undefined && rest.text !== undefined ? `(${q}) (${rest.text})` : (q ?? rest.text);
    await recordRequest(c, deps, 'archive.search', { ...rest, ...(text !== undefined ? { text } : {}) });
    return c.json(await searchPage(deps, query), 200, JSON_HEADERS);
  });
  app.openapi({ ...view, ...auditor }, async (c) => {
    const { archiveId } = c.req.valid('param');
    await recordRequest(c, deps, 'archive.view', { archiveId });
    return c.json(await messageView(deps, archiveId), 200, JSON_HEADERS);
  });
  app.openapi({ ...raw, ...auditor }, async (c) => {
    const { archiveId } = c.req.valid('param');
    await recordRequest(c, deps, 'archive.raw', { archiveId });
    const message = await findMessage(deps, archiveId);
    // The whole message in memory: counted against the budget the drain shares (ADR 0017).
    const release = await deps.budget?.acquire(message.size);
    let bytes: Uint8Array;
    try {
      bytes = await deps.blobs.read(message.blob, message.sha256);
    } finally {
      release?.();
    }
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
      ...ATTACHMENT_SAFETY_HEADERS,
      'Content-Type': 'message/rfc822',
      'Content-Length': String(bytes.byteLength),
      'Content-Disposition': `attachment; filename="${archiveId}.eml"`,
    });
  });
  messageHtmlRoutes(app, deps, findMessage);
}
