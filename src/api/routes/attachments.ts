/**
 * `GET /api/v1/messages/{archiveId}/attachments/{sha256}?expires=…&signature=…`: the decoded
 * bytes of one attachment of an archived message: what a webhook's attachment reference (`Url`)
 * points at. The order of the checks is part of the contract: malformed ids (400) before the
 * signature (403), the signature before anything is looked up (404), so a URL nobody signed
 * learns nothing about the archive.
 */
import { MailsluiceError } from '../../core/errors/index.js';
import { PARSE_CHARGE_FACTOR } from '../../core/memory/byte-budget.js';
import type { ArchivedMessage } from '../../core/ports/archive-reader.js';
import { createRoute, z } from '@hono/zod-openapi';
import type { ApiApp } from '../api-app.js';
import { errorAnswer, hexSha256 } from '../schemas.js';
import { API_TUNING, type ApiDeps } from '../api-server-config.js';
import { ATTACHMENT_SAFETY_HEADERS, contentDisposition, safeContentType } from '../attachment-headers.js';

/**
 * At most `limit` calls of `run` at once; up to `maxWaiting` more wait in order, and beyond
 * that a call is refused at once (`API_BUSY`, answered 503 with Retry-After).
 */
class Gate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(
    private readonly limit: number,
    private readonly maxWaiting: number,
  ) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit && this.waiting.length >= this.maxWaiting) {
      throw new MailsluiceError('API_BUSY', `${this.running} attachment reads are running and ${this.waiting.length} are waiting; try again shortly`, {
        details: { retryAfterSeconds: API_TUNING.busyRetryAfterSeconds },
      });
    }
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

const route = createRoute({
  method: 'get',
  path: '/api/v1/messages/{archiveId}/attachments/{sha256}',
  operationId: 'getAttachment',
  summary: 'The bytes of one attachment of an archived message',
  description:
    'Served only under a signed URL, as a webhook request gives it in `Attachments[].Content.Reference.Url`: use it as it is. The signature covers the method, the path and `expires`; a URL changed in any part, or past its expiry, is refused with 403 (also one without `expires` or `signature`: they are checked after the ids, so they are optional to the schema). HEAD answers the same headers without the body.',
  request: {
    params: z.object({
      archiveId: hexSha256.openapi({ param: { description: 'The archived message: the SHA-256 of its raw bytes (`ArchiveId`).' } }),
      sha256: hexSha256.openapi({ param: { description: 'The attachment: the SHA-256 of its decoded bytes (`Attachments[].Sha256`).' } }),
    }),
    query: z.object({
      expires: z.string().optional().openapi({ param: { description: 'When the URL stops working, in seconds since the epoch.' }, type: 'integer', format: 'int64', minimum: 0 }),
      signature: z.string().optional().openapi({ param: { description: "Hex HMAC-SHA256 of the method, path and expiry with the installation's URL key." }, pattern: '^[0-9a-f]{64}$' }),
    }),
  },
  responses: {
    200: {
      description: 'The decoded bytes of the attachment; their SHA-256 is the `sha256` of the path.',
      headers: {
        'Content-Type': { description: "The attachment's type (`Attachments[].ContentType`), or application/octet-stream.", schema: { type: 'string' } },
        'Content-Length': { description: "The attachment's size in bytes (`Attachments[].Size`).", schema: { type: 'integer' } },
        'Content-Disposition': { description: '`attachment` with the file name (`Attachments[].Name`): `filename` in ASCII, `filename*` in UTF-8 (RFC 6266, RFC 8187).', schema: { type: 'string' } },
      },
      content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } },
    },
    400: errorAnswer('`archiveId` or `sha256` is not 64 lowercase hex digits (API_BAD_REQUEST).'),
    403: errorAnswer('The signature is missing, malformed or does not match, or the URL has expired (API_FORBIDDEN).'),
    404: errorAnswer('No archived message with this `archiveId`, or it has no attachment with this `sha256` (API_NOT_FOUND).'),
    500: errorAnswer('The archive could not serve the attachment; the code names why, the service log has the details.'),
    503: errorAnswer('Too many attachment reads are running and waiting (API_BUSY); try again after `Retry-After` seconds.'),
  },
});

/** The attachments resource. */
export function attachmentRoutes(app: ApiApp, deps: ApiDeps): void {
  const gate = new Gate(API_TUNING.maxConcurrentAttachmentReads, API_TUNING.maxQueuedAttachmentReads);

  /** The message and the attachment's listed name and type. */
  const findMessage = async (archiveId: string, sha256: string): Promise<{ message: ArchivedMessage; name: string; type: string }> => {
    const message = await deps.archive.findArchived(archiveId);
    const meta = message?.attachments?.find((a) => a.Sha256 === sha256);
    if (!message) throw new MailsluiceError('API_NOT_FOUND', `no archived message ${archiveId}`);
    // Only what the message's parse listed is served: never an arbitrary part found by its hash.
    if (!meta) throw new MailsluiceError('API_NOT_FOUND', `archived message ${archiveId} has no attachment ${sha256}`);
    return { message, name: meta.Name, type: meta.ContentType };
  };

  // The ids were checked by the schema (400) before this runs; the signature is checked before
  // anything is looked up.
  app.openapi(route, async (c) => {
    const { archiveId, sha256 } = c.req.valid('param');
    const query = c.req.valid('query');
    // The path as received (undecoded), which is what was signed.
    const path = new URL(c.req.url).pathname;
    deps.signer.verify({ method: c.req.method, path, expires: query.expires ?? null, signature: query.signature ?? null }, deps.now());
    return gate.run(async () => {
      const found = await findMessage(archiveId, sha256);
      // The raw message and the decoded attachment, against the budget the drain and the parse
      // share: a burst of downloads waits for them instead of adding to them.
      const release = await deps.budget?.acquire(found.message.size * PARSE_CHARGE_FACTOR);
      let bytes: Uint8Array | undefined;
      try {
        const raw = await deps.blobs.read(found.message.blob, found.message.sha256);
        bytes = (await deps.attachments.find(raw, new Set([sha256]))).get(sha256);
      } finally {
        release?.();
      }
      if (!bytes) {
        // Listed by the parse but not found again: the finder sees the message differently from
        // the parser that hashed it. A bug, not the receiver's doing.
        throw new MailsluiceError('INTERNAL', `attachment ${sha256} is listed for archived message ${archiveId} but was not found again in its raw bytes`);
      }
      return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
        'Content-Type': safeContentType(found.type),
        'Content-Length': String(bytes.byteLength),
        'Content-Disposition': contentDisposition(found.name),
        ...ATTACHMENT_SAFETY_HEADERS,
      });
    });
  });
}
