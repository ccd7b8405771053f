/**
 * `GET /api/v1/messages/{archiveId}/attachments/{sha256}?expires=…&signature=…`: the decoded
 * bytes of one attachment of an archived message: what a webhook's attachment reference (`Url`)
 * points at. The order of the checks is part of the contract: malformed ids (400) before the
 * signature (403), the signature before anything is looked up (404), so a URL nobody signed
 * learns nothing about the archive.
 */
import { MailsluiceError, isMailsluiceError } from '../../core/errors/index.js';
import { PARSE_CHARGE_FACTOR } from '../../core/memory/byte-budget.js';
import type { ArchivedMessage } from '../../core/ports/archive-reader.js';
import type { ApiRequest, ApiResponse, ApiRoute } from '../router.js';
import { API_TUNING, type ApiDeps } from '../api-server-config.js';
import { ATTACHMENT_SAFETY_HEADERS, contentDisposition, safeContentType } from '../attachment-headers.js';

const HEX_SHA256 = /^[0-9a-f]{64}$/;

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

function checkId(name: string, value: string | undefined): string {
  if (value === undefined || !HEX_SHA256.test(value)) {
    throw new MailsluiceError('API_BAD_REQUEST', `${name} must be a SHA-256 in 64 lowercase hex digits, not ${JSON.stringify((value ?? '').slice(0, 80))}`);
  }
  return value;
}

/** The attachments resource. */
export function attachmentRoutes(deps: ApiDeps): ApiRoute[] {
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

  const read = async (message: ArchivedMessage, archiveId: string): Promise<Uint8Array> => {
    try {
      return await deps.blobs.read(message.blob, message.sha256);
    } catch (err) {
      // The compress stage may have moved the blob (and deleted its staging copy) since it was
      // looked up: look again once.
      if (!isMailsluiceError(err, 'STORE_NOT_FOUND')) throw err;
      const again = await deps.archive.findArchived(archiveId);
      if (!again || again.blob.ref === message.blob.ref) throw err;
      return deps.blobs.read(again.blob, again.sha256);
    }
  };

  const handle = async (request: ApiRequest): Promise<ApiResponse> => {
    const archiveId = checkId('archiveId', request.params.archiveId);
    const sha256 = checkId('sha256', request.params.sha256);
    deps.signer.verify({ method: request.method, path: request.path, expires: request.query.get('expires'), signature: request.query.get('signature') }, deps.now());
    return gate.run(async () => {
      const found = await findMessage(archiveId, sha256);
      // The raw message and the decoded attachment, against the budget the drain and the parse
      // share: a burst of downloads waits for them instead of adding to them.
      const release = await deps.budget?.acquire(found.message.size * PARSE_CHARGE_FACTOR);
      let bytes: Uint8Array | undefined;
      try {
        const raw = await read(found.message, archiveId);
        bytes = (await deps.attachments.find(raw, new Set([sha256]))).get(sha256);
      } finally {
        release?.();
      }
      if (!bytes) {
        // Listed by the parse but not found again: the finder sees the message differently from
        // the parser that hashed it. A bug, not the receiver's doing.
        throw new MailsluiceError('INTERNAL', `attachment ${sha256} is listed for archived message ${archiveId} but was not found again in its raw bytes`);
      }
      return {
        status: 200,
        headers: {
          'Content-Type': safeContentType(found.type),
          'Content-Length': String(bytes.byteLength),
          'Content-Disposition': contentDisposition(found.name),
          ...ATTACHMENT_SAFETY_HEADERS,
        },
        body: bytes,
      };
    });
  };

  return [{ method: 'GET', path: '/api/v1/messages/{archiveId}/attachments/{sha256}', handle }];
}
