/** The message view's headers and bodies: the raw message parsed again, as the API shows them. */
import { PARSE_CHARGE_FACTOR } from '../../core/memory/byte-budget.js';
import type { Address, MessageAttributes } from '../../core/message/attributes.js';
import type { ArchivedMessage } from '../../core/ports/archive-reader.js';
import type { z } from '@hono/zod-openapi';
import type { ApiDeps } from '../api-server-config.js';
import type { MessageContentSchema } from '../schemas.js';

type MessageContent = z.infer<typeof MessageContentSchema>;

const address = (a: Address): { name: string; address: string } => ({ name: a.Name, address: a.Address });

function contentOf(a: Partial<MessageAttributes>, parseError: string | null): MessageContent {
  const j = a.Journal;
  return {
    from: a.From ? address(a.From) : null,
    to: (a.To ?? []).map(address),
    cc: (a.Cc ?? []).map(address),
    bcc: (a.Bcc ?? []).map(address),
    subject: a.Subject ?? '',
    date: a.ReceivedDate ?? null,
    messageId: a.GlobalMessageId ?? '',
    inReplyTo: a.InReplyTo ?? '',
    references: a.References ?? [],
    textBody: a.TextBody ?? '',
    htmlBody: a.HtmlBody ?? '',
    journal: j ? { sender: j.Sender, recipients: j.Recipients.map((r) => ({ address: r.Address, kind: r.Kind })), ...(j.OnBehalfOf ? { onBehalfOf: j.OnBehalfOf } : {}) } : null,
    parseError,
  };
}

/**
 * Parses `message` again (null without a parser). The raw bytes and what the parse makes of them
 * are held against the byte budget the drain shares (ADR 0017), as an attachment read is.
 */
export async function messageContent(deps: ApiDeps, message: ArchivedMessage, archiveId: string): Promise<MessageContent | null> {
  const parser = deps.parser;
  if (!parser) return null;
  const release = await deps.budget?.acquire(message.size * PARSE_CHARGE_FACTOR);
  try {
    const raw = await deps.blobs.read(message.blob, message.sha256);
    const outcome = await parser.parse(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), message.size);
    return outcome.ok ? contentOf(outcome.attributes, null) : contentOf(outcome.partial ?? {}, outcome.code);
  } finally {
    release?.();
  }
}
