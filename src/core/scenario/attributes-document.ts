/**
 * The message attributes document an action hands over: `{ route, connection, deliveryId,
 * message }`, `message` holding the message attributes under SPEC's names, attachments inline up
 * to a size and as references into the archive beyond it, shaped by the route's `attributes`
 * setting. The webhook POSTs it, the publish action sends it to a broker: one builder, so a
 * receiver reads the same document whichever way it arrives.
 */
import type { Attachment, MessageAttributes } from '../message/attributes.js';
import type { AttachmentFinder } from '../ports/attachment-finder.js';
import type { DeliveryContext } from '../ports/scenario-action.js';
import { mapAttributes } from '../routing/route-attributes.js';

/**
 * A reference into the archive: the message (`ArchiveId`, the SHA-256 of its raw bytes) and the
 * attachment (its SHA-256), and, when the API is configured, `Url`: a signed URL that serves the
 * attachment's bytes until it expires.
 */
export interface AttachmentReference {
  ArchiveId: string;
  Sha256: string;
  Url?: string;
}

/** An attachment as sent: its bytes inline (base64), or a reference into the archive. */
export type DocumentAttachment = Omit<Attachment, 'Content'> & {
  Content: string | { Reference: AttachmentReference };
};

/** The document. */
export interface AttributesDocument {
  route: string;
  connection: string;
  deliveryId: string;
  /** The message attributes, as the route's `attributes` setting shapes them (all of them by default). */
  message: (Omit<MessageAttributes, 'Attachments'> & { Attachments: DocumentAttachment[] }) | Record<string, unknown>;
}

/**
 * What the composition root hands an action that sends the document: how to find attachment
 * bytes to inline (without it every attachment goes as a reference), and how to make the signed
 * URL of a reference (without it a reference carries no `Url`).
 */
export interface AttributesDocumentDeps {
  attachments?: AttachmentFinder | undefined;
  /** The signed URL of one attachment, valid from the moment it is made. */
  referenceUrl?: ((archiveId: string, sha256: string) => string) | undefined;
}

/**
 * The document of one delivery: attachments of at most `inlineUpTo` bytes inline (their bytes
 * found again in the raw message, read only when one is that small), the others as references.
 * Throws what `ctx.readRaw()` throws (the archive's STORE_* error decides the retry).
 */
export async function attributesDocument(message: MessageAttributes, ctx: DeliveryContext, inlineUpTo: number, deps: AttributesDocumentDeps = {}): Promise<AttributesDocument> {
  const finder = deps.attachments;
  // A route that does not pass Attachments on needs none of their bytes read.
  const keep = ctx.attributes?.keep;
  const small = new Set((keep && !keep.includes('Attachments') ? [] : message.Attachments).filter((a) => a.Size <= inlineUpTo).map((a) => a.Sha256));
  const contents = finder && small.size > 0 ? await finder.find(await ctx.readRaw(), small) : new Map<string, Uint8Array>();
  const archiveId = message.ArchiveId ?? '';
  const referenceUrl = deps.referenceUrl;
  const attachments: DocumentAttachment[] = message.Attachments.map((a) => {
    const bytes = a.Size <= inlineUpTo ? contents.get(a.Sha256) : undefined;
    if (bytes) return { ...a, Content: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
    // The URL is signed now, so it expires a fixed time after this attempt: a retry carries a
    // fresh one and the document differs between attempts. That is fine: a receiver deduplicates
    // by the idempotency key, which stays the same.
    const reference: AttachmentReference = { ArchiveId: archiveId, Sha256: a.Sha256, ...(referenceUrl && archiveId ? { Url: referenceUrl(archiveId, a.Sha256) } : {}) };
    return { ...a, Content: { Reference: reference } };
  });
  return { route: ctx.route, connection: ctx.connection, deliveryId: ctx.deliveryId, message: mapAttributes({ ...message, Attachments: attachments }, ctx.attributes) };
}
