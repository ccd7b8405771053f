/**
 * `GET /api/v1/messages/{archiveId}/html` (auditor): the HTML body of an archived message as a
 * document of its own, for the console's message view to show in `<iframe sandbox="">`. The HTML
 * is anyone's who can send mail to the journal mailbox, so it is served as it is but under a
 * policy that lets it do nothing: `sandbox` (an opaque origin: no script, no form, no plugin, no
 * navigation of the page around it, no cookie of this origin), `default-src 'none'` (no remote
 * image, stylesheet, font, frame or request: a tracking pixel never learns the message was
 * read), inline styles and `data:` images only. It is not sniffed, not cached and sends no
 * Referer. Recorded as `archive.view` (detail `part: "html"`) before the archive is read.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { MailsluiceError } from '../../core/errors/index.js';
import type { ArchivedMessage } from '../../core/ports/archive-reader.js';
import type { ApiApp } from '../api-app.js';
import type { ApiDeps } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { ACCESS_ANSWERS, errorAnswer, hexSha256 } from '../schemas.js';
import { recordRequest } from '../audit-request.js';
import { messageContent } from './message-content.js';

/**
 * The policy of the HTML body: a sandbox with no permission at all, nothing loaded but inline
 * styles and `data:` images, and framed only by this origin (the console).
 */
export const MESSAGE_HTML_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'";

/** The headers of the HTML body's answer (besides its length). */
export const MESSAGE_HTML_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': MESSAGE_HTML_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

const route = createRoute({
  method: 'get',
  path: '/api/v1/messages/{archiveId}/html',
  operationId: 'getMessageHtml',
  summary: "An archived message's HTML body, sandboxed (role auditor)",
  description: `The HTML body as the mail has it, as a document to show in \`<iframe sandbox="">\`: served with \`Content-Security-Policy: ${MESSAGE_HTML_CSP}\`, so it runs no script, submits no form, navigates nothing around it and loads nothing (remote images and stylesheets included); \`X-Content-Type-Options: nosniff\`, \`Referrer-Policy: no-referrer\`, \`Cache-Control: no-store\`. Recorded on the audit log as \`archive.view\` with \`part: "html"\`.`,
  security: BEARER,
  request: { params: z.object({ archiveId: hexSha256.openapi({ param: { description: 'The archived message: the SHA-256 of its raw bytes (`ArchiveId`).' } }) }) },
  responses: {
    200: {
      description: 'The HTML body, UTF-8, under the sandboxing policy above.',
      headers: {
        'Content-Security-Policy': { description: 'The sandboxing policy.', schema: { type: 'string', example: MESSAGE_HTML_CSP } },
      },
      content: { 'text/html': { schema: z.string() } },
    },
    400: errorAnswer('`archiveId` is not 64 lowercase hex digits (API_BAD_REQUEST).'),
    ...ACCESS_ANSWERS,
    404: errorAnswer('No archived message with this `archiveId`, or it has no HTML body (API_NOT_FOUND).'),
  },
});

/** The HTML body route, beside the message view it belongs to (`findMessage` is the view's: 404 for an unknown id). */
export function messageHtmlRoutes(app: ApiApp, deps: ApiDeps, findMessage: (deps: ApiDeps, archiveId: string) => Promise<ArchivedMessage>): void {
  app.openapi({ ...route, middleware: [requireRole(deps.authorize, 'auditor')] }, async (c) => {
    const { archiveId } = c.req.valid('param');
    await recordRequest(c, deps, 'archive.view', { archiveId, part: 'html' });
    const message = await findMessage(deps, archiveId);
    const content = await messageContent(deps, message, archiveId);
    if (!content || content.htmlBody === '') throw new MailsluiceError('API_NOT_FOUND', `archived message ${archiveId} has no HTML body`);
    const body = Buffer.from(content.htmlBody, 'utf8');
    return c.body(body as Uint8Array<ArrayBuffer>, 200, { ...MESSAGE_HTML_HEADERS, 'Content-Length': String(body.byteLength) });
  });
}
