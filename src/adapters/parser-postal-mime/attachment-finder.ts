/**
 * The `AttachmentFinder` port on postal-mime: the decoded bytes of a message's attachments, found
 * again in its raw bytes by SHA-256. It lives with the parser because it must see attachments the
 * way the parser did when it hashed them (`postal-mime-attributes.ts`): the same library, and the
 * same rule for the final line break of a 7bit/8bit part. Used by the webhook action (inline
 * attachments) and the API (attachment references), each handed it by its composition root, so
 * neither adapter imports another.
 *
 * `postalMimeAttachmentFinder` parses in the calling thread (the webhook action's: the dispatcher's
 * own); the API, whose thread is the drain's, uses the same search as a `find` job of a parser
 * worker (`createPostalMimeAttachmentFinder` in postal-mime-parser.ts). Only for a message some
 * attachment is wanted of.
 */
import { createHash } from 'node:crypto';
import PostalMime from 'postal-mime';
import type { AttachmentFinder } from '../../core/ports/attachment-finder.js';

/**
 * Attachments inside attached messages (a journal report's original, a forwarded message) are
 * looked for this many levels down: journal reports put the original one level down, and a
 * forward of a forward is rare beyond that. Each level is one more parse of the bytes it holds.
 */
export const MAX_NESTED_MESSAGES = 3;

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Bytes of the attachments whose SHA-256 is in `wanted`, by hash. An attachment that cannot be
 * found (the parser's view differs) is simply missing: the caller decides what that means.
 */
export async function findAttachmentContents(raw: Uint8Array, wanted: ReadonlySet<string>): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  let level: Uint8Array[] = [raw];
  for (let depth = 0; depth <= MAX_NESTED_MESSAGES && level.length > 0 && found.size < wanted.size; depth++) {
    const next: Uint8Array[] = [];
    for (const bytes of level) {
      let email;
      try {
        email = await PostalMime.parse(bytes, { attachmentEncoding: 'arraybuffer', forceRfc822Attachments: true });
      } catch {
        continue; // unparsable here: what is not found stays missing
      }
      for (const a of email.attachments) {
        const c = a.content;
        const content = typeof c === 'string' ? Buffer.from(c, 'base64') : c instanceof ArrayBuffer ? Buffer.from(c) : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
        // The archive's hash drops the final line break of a 7bit/8bit part (it belongs to the
        // MIME boundary); try both forms.
        for (const candidate of [content, content.at(-1) === 10 ? content.subarray(0, content.length - 1) : null]) {
          if (!candidate) continue;
          const h = sha256(candidate);
          if (wanted.has(h) && !found.has(h)) found.set(h, candidate);
        }
        if (a.mimeType === 'message/rfc822') next.push(content);
      }
    }
    level = next;
  }
  return found;
}

/** {@link findAttachmentContents} as the `AttachmentFinder` port. */
export const postalMimeAttachmentFinder: AttachmentFinder = {
  find: (raw, wanted) => findAttachmentContents(raw, wanted),
};
