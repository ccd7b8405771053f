/**
 * The decoded bytes of a message's attachments, for inlining in a webhook. The archive keeps an
 * attachment's size and SHA-256, not its bytes; they are read again from the raw message with
 * postal-mime here, in the dispatcher, off the drain's path, and only for a message that has an
 * attachment small enough to inline. Attachments are matched to the attributes by SHA-256, so
 * an attachment found in an attached message (a journal report's original) is found too.
 */
import { createHash } from 'node:crypto';
import PostalMime from 'postal-mime';
import { WEBHOOK_TUNING } from './webhook-action-config.js';

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Bytes of the attachments whose SHA-256 is in `wanted`, by hash. An attachment that cannot be
 * found (the parser's view differs) is simply missing: the caller sends a reference instead.
 */
export async function findAttachmentContents(raw: Uint8Array, wanted: ReadonlySet<string>): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  let level: Uint8Array[] = [raw];
  for (let depth = 0; depth <= WEBHOOK_TUNING.maxNestedMessages && level.length > 0 && found.size < wanted.size; depth++) {
    const next: Uint8Array[] = [];
    for (const bytes of level) {
      let email;
      try {
        email = await PostalMime.parse(bytes, { attachmentEncoding: 'arraybuffer', forceRfc822Attachments: true });
      } catch {
        continue; // unparsable here: what is not found goes as a reference
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
