/**
 * The `webhook` scenario action: one HTTP POST per attempt of JSON
 * `{ route, connection, deliveryId, message }`, `message` holding the message attributes under
 * SPEC's names, signed as Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`)
 * and, for one release, with the legacy body-only HMAC. Sent over one kept-alive
 * connection per action, pipelined (`http-pipeline.ts`, ADR 0008): the POSTs of a route leave in
 * mailbox order and up to `pipeline` of them are on their way at once, so a route is not held
 * to one round trip per message. It never throws: every failure is an outcome the dispatcher
 * retries or dead-letters (webhook-error-map.ts decides which).
 */
import { createHmac } from 'node:crypto';
import type { ActionOutcome, DeliveryContext, ScenarioAction } from '../../core/ports/scenario-action.js';
import type { MessageAttributes } from '../../core/message/attributes.js';
import { attributesDocument, type AttributesDocument, type AttributesDocumentDeps, type DocumentAttachment } from '../../core/scenario/attributes-document.js';
import { toMailsluiceError } from '../../core/errors/index.js';
import { resolveWebhookActionConfig, WEBHOOK_TUNING, type WebhookActionConfig, type WebhookActionOptions } from './webhook-action-config.js';
import { mapWebhookError, mapWebhookStatus } from './webhook-error-map.js';
import { HttpPipeline, PipelineError } from './http-pipeline.js';

export type { AttachmentReference } from '../../core/scenario/attributes-document.js';

/** An attachment as sent: its bytes inline, or a reference into the archive. */
export type WebhookAttachment = DocumentAttachment;

/**
 * What the composition root hands a webhook action besides its settings: how to find attachment
 * bytes to inline and sign reference URLs (the attributes document's, `core/scenario/attributes-document.ts`).
 */
export type WebhookActionDeps = AttributesDocumentDeps;

/** The request body: the message attributes document. */
export type WebhookBody = AttributesDocument;

/**
 * HMAC-SHA256 of `body` with `secret`, as the legacy `X-Mailsluice-Signature` header carries it.
 * It covers the body only (no time, no id), so a captured request can be replayed: kept for one
 * release beside the Standard Webhooks headers ({@link signStandardWebhook}, ADR 0016).
 */
export function signBody(body: Uint8Array, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * The key bytes of a Standard Webhooks secret: `whsec_<base64>` is the base64-decoded part (what
 * the spec's libraries do); any other configured secret is its UTF-8 bytes, so a secret written
 * for the legacy header keeps working (a receiver's library is then given base64 of those bytes).
 */
export function standardWebhookKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret, 'utf8');
}

/**
 * The `webhook-signature` value of Standard Webhooks (standardwebhooks.com): `v1,<base64 of
 * HMAC-SHA256 over "<id>.<timestamp>.<body>">`. The id and the time are signed, so a receiver that
 * checks the timestamp's age and remembers ids refuses a replay.
 */
export function signStandardWebhook(id: string, timestampSeconds: number, body: Uint8Array, secret: string): string {
  const mac = createHmac('sha256', standardWebhookKey(secret)).update(`${id}.${timestampSeconds}.`, 'utf8').update(body).digest('base64');
  return `v1,${mac}`;
}

/** See the module comment. */
export class WebhookAction implements ScenarioAction {
  readonly kind = 'webhook' as const;
  /**
   * Calls of `run` that may be in flight at once and still reach the receiver in call order
   * (pipelined on one connection); the dispatcher keeps a window this wide per route.
   */
  readonly inOrder: number;

  private readonly pipeline: HttpPipeline;
  /** The request line and the headers every POST shares, worked out once from the URL. */
  private readonly head: string;

  constructor(
    private readonly config: WebhookActionConfig,
    private readonly deps: WebhookActionDeps = {},
  ) {
    const url = config.url;
    const tls = url.protocol === 'https:';
    this.inOrder = config.pipeline;
    this.pipeline = new HttpPipeline(
      {
        tls,
        // An IPv6 literal comes bracketed in a URL, never in a connect option.
        host: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
        port: url.port === '' ? (tls ? 443 : 80) : Number(url.port),
        verify: config.tls.verify,
        ca: config.tls.ca,
        servername: config.tls.servername,
      },
      { window: config.pipeline, maxBodyChars: WEBHOOK_TUNING.maxErrorBodyChars },
    );
    const fixed: Array<[string, string]> = [['Host', url.host], ['Content-Type', 'application/json']];
    if (url.username) fixed.push(['Authorization', `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`]);
    for (const [k, v] of Object.entries(config.headers)) fixed.push([k, v]);
    this.head = `POST ${url.pathname}${url.search} HTTP/1.1\r\n${fixed.map(([k, v]) => `${k}: ${v}\r\n`).join('')}`;
  }

  /** Closes the connection to the receiver; what is pending fails as stopped. */
  async close(): Promise<void> {
    this.pipeline.close();
  }

  async run(message: MessageAttributes, ctx: DeliveryContext): Promise<ActionOutcome> {
    // The place in the send order is taken now, before anything is awaited: calls reach the
    // receiver in the order they were made even when one waits for an attachment read.
    const slot = this.pipeline.reserve();
    let body: Buffer;
    try {
      body = Buffer.from(JSON.stringify(await this.body(message, ctx)), 'utf8');
    } catch (err) {
      slot.cancel();
      // Reading the raw message back failed: the archive's code (STORE_*) decides the retry.
      return { ok: false, error: toMailsluiceError(err) };
    }
    // webhook-id is the idempotency key: the same on every retry, as Standard Webhooks wants.
    const timestamp = Math.floor(Date.now() / 1000);
    let head = `${this.head}Content-Length: ${body.length}\r\nIdempotency-Key: ${ctx.idempotencyKey}\r\nX-Mailsluice-Attempt: ${ctx.attempt}\r\n`;
    head += `webhook-id: ${ctx.idempotencyKey}\r\nwebhook-timestamp: ${timestamp}\r\n`;
    if (this.config.secret) {
      head += `webhook-signature: ${signStandardWebhook(ctx.idempotencyKey, timestamp, body, this.config.secret)}\r\n`;
      head += `X-Mailsluice-Signature: ${signBody(body, this.config.secret)}\r\n`;
    }
    try {
      // Redirects are not followed: a 3xx is an answer like any other. Head and body go as two
      // pieces of one write, not copied into one buffer first.
      const a = await slot.send([Buffer.from(`${head}\r\n`, 'latin1'), body], this.config.timeoutMs, ctx.signal);
      if (a.status >= 200 && a.status < 300) return { ok: true };
      return { ok: false, error: mapWebhookStatus(a.status, a.retryAfter, a.text, Date.now()) };
    } catch (err) {
      const why = err instanceof PipelineError ? err.why : null;
      return { ok: false, error: mapWebhookError(err, { timedOut: why === 'timeout', stopped: why === 'stopped' || ctx.signal.aborted, timeoutMs: this.config.timeoutMs }) };
    }
  }

  /** The request body; attachments inline up to the limit, the rest as references. */
  private body(message: MessageAttributes, ctx: DeliveryContext): Promise<WebhookBody> {
    return attributesDocument(message, ctx, this.config.inlineAttachmentsUpTo, this.deps);
  }
}

/**
 * Creates a webhook action; throws `CONFIG_INVALID` for options that cannot work. `deps` come from
 * the composition root ({@link WebhookActionDeps}).
 */
export function createWebhookAction(options: WebhookActionOptions, deps: WebhookActionDeps = {}): WebhookAction {
  return new WebhookAction(resolveWebhookActionConfig(options), deps);
}
