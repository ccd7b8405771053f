/**
 * The `webhook` scenario action: one HTTP POST per attempt of JSON
 * `{ route, connection, deliveryId, message }`, `message` holding the message attributes under
 * SPEC's names, signed with HMAC-SHA256 over the exact body bytes. Node's own fetch (undici) keeps
 * connections to the receiver alive between deliveries. It never throws: every failure is an
 * outcome the dispatcher retries or dead-letters (webhook-error-map.ts decides which).
 */
import { createHmac } from 'node:crypto';
import type { ActionOutcome, DeliveryContext, ScenarioAction } from '../../core/ports/scenario-action.js';
import type { Attachment, MessageAttributes } from '../../core/message/attributes.js';
import { toMailsluiceError } from '../../core/errors/index.js';
import { resolveWebhookActionConfig, WEBHOOK_TUNING, type WebhookActionConfig, type WebhookActionOptions } from './webhook-action-config.js';
import { mapWebhookError, mapWebhookStatus } from './webhook-error-map.js';
import { findAttachmentContents } from './webhook-attachments.js';

/** An attachment as sent: its bytes inline, or a reference into the archive. */
export type WebhookAttachment = Omit<Attachment, 'Content'> & {
  Content: string | { Reference: { ArchiveId: string; Sha256: string } };
};

/** The request body. */
export interface WebhookBody {
  route: string;
  connection: string;
  deliveryId: string;
  message: Omit<MessageAttributes, 'Attachments'> & { Attachments: WebhookAttachment[] };
}

/** HMAC-SHA256 of `body` with `secret`, as the `X-Mailsluice-Signature` header carries it. */
export function signBody(body: Uint8Array, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Reads at most `max` characters of an answer and lets go of the rest. */
async function readSome(res: Response, max: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    while (n < max) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      n += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, max);
}

/** See the module comment. */
export class WebhookAction implements ScenarioAction {
  readonly kind = 'webhook' as const;

  constructor(private readonly config: WebhookActionConfig) {}

  async run(message: MessageAttributes, ctx: DeliveryContext): Promise<ActionOutcome> {
    let body: Buffer;
    try {
      body = Buffer.from(JSON.stringify(await this.body(message, ctx)), 'utf8');
    } catch (err) {
      // Reading the raw message back failed: the archive's code (STORE_*) decides the retry.
      return { ok: false, error: toMailsluiceError(err) };
    }
    const headers: Record<string, string> = {
      ...this.config.headers,
      'Content-Type': 'application/json',
      'Idempotency-Key': ctx.idempotencyKey,
      'X-Mailsluice-Attempt': String(ctx.attempt),
    };
    if (this.config.secret) headers['X-Mailsluice-Signature'] = signBody(body, this.config.secret);
    const timeout = AbortSignal.timeout(this.config.timeoutMs);
    const signal = AbortSignal.any([ctx.signal, timeout]);
    try {
      const res = await fetch(this.config.url, { method: 'POST', headers, body, signal, redirect: 'manual' });
      if (res.status >= 200 && res.status < 300) {
        // Drain the answer so the connection goes back to the pool.
        await res.arrayBuffer();
        return { ok: true };
      }
      const text = await readSome(res, WEBHOOK_TUNING.maxErrorBodyChars);
      return { ok: false, error: mapWebhookStatus(res.status, res.headers.get('retry-after'), text, Date.now()) };
    } catch (err) {
      return { ok: false, error: mapWebhookError(err, { timedOut: timeout.aborted, stopped: ctx.signal.aborted, timeoutMs: this.config.timeoutMs }) };
    }
  }

  /** The request body; attachments inline up to the limit, the rest as references. */
  private async body(message: MessageAttributes, ctx: DeliveryContext): Promise<WebhookBody> {
    const limit = this.config.inlineAttachmentsUpTo;
    const small = new Set(message.Attachments.filter((a) => a.Size <= limit).map((a) => a.Sha256));
    const contents = small.size > 0 ? await findAttachmentContents(await ctx.readRaw(), small) : new Map<string, Buffer>();
    const archiveId = message.ArchiveId ?? '';
    const attachments: WebhookAttachment[] = message.Attachments.map((a) => {
      const bytes = a.Size <= limit ? contents.get(a.Sha256) : undefined;
      return { ...a, Content: bytes ? bytes.toString('base64') : { Reference: { ArchiveId: archiveId, Sha256: a.Sha256 } } };
    });
    return { route: ctx.route, connection: ctx.connection, deliveryId: ctx.deliveryId, message: { ...message, Attachments: attachments } };
  }
}

/** Creates a webhook action; throws `CONFIG_INVALID` for options that cannot work. */
export function createWebhookAction(options: WebhookActionOptions): WebhookAction {
  return new WebhookAction(resolveWebhookActionConfig(options));
}
