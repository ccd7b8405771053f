/**
 * The `webhook` scenario action: one HTTP POST per attempt of JSON
 * `{ route, connection, deliveryId, message }`, `message` holding the message attributes under
 * SPEC's names, signed with HMAC-SHA256 over the exact body bytes. Sent with node:http(s) and a
 * keep-alive agent per action: a route's deliveries go one at a time (mailbox order), so the
 * round trip is the route's rate, and node:http's is ~0.2 ms on loopback against ~0.75 ms for
 * Node's fetch (measured here). It never throws: every failure is an outcome the dispatcher
 * retries or dead-letters (webhook-error-map.ts decides which).
 */
import { createHmac } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
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

/** The receiver's answer: its status, `Retry-After`, and the start of its body when not 2xx. */
interface Answer {
  status: number;
  retryAfter: string | null;
  text: string;
}

/** Reads at most `max` characters of an answer and lets go of the rest. */
function readAnswer(res: IncomingMessage, max: number): Promise<Answer> {
  const status = res.statusCode ?? 0;
  const header = res.headers['retry-after'];
  const retryAfter = Array.isArray(header) ? (header[0] ?? null) : (header ?? null);
  const ok = status >= 200 && status < 300;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    res.on('data', (c: Buffer) => {
      // A 2xx body is drained unread, so the socket goes back to the agent for the next POST.
      if (ok || n >= max) return;
      chunks.push(c);
      n += c.length;
    });
    res.on('end', () => resolve({ status, retryAfter, text: ok ? '' : Buffer.concat(chunks).toString('utf8').slice(0, max) }));
    res.on('error', reject);
  });
}

/** Why a POST was cut off by the action itself. */
class WebhookInterrupted extends Error {
  constructor(readonly why: 'timeout' | 'stopped') {
    super(why === 'timeout' ? 'the request timed out' : 'the run was stopped');
  }
}

/** See the module comment. */
export class WebhookAction implements ScenarioAction {
  readonly kind = 'webhook' as const;

  private readonly agent: http.Agent;
  /** The request options every POST shares, worked out once from the URL. */
  private readonly target: http.RequestOptions;
  private readonly send: typeof http.request;

  constructor(private readonly config: WebhookActionConfig) {
    const url = new URL(config.url);
    const tls = url.protocol === 'https:';
    this.agent = tls ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.send = tls ? https.request : http.request;
    this.target = {
      method: 'POST',
      agent: this.agent,
      protocol: url.protocol,
      // An IPv6 literal comes bracketed in a URL, never in a host option.
      hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
      port: url.port === '' ? (tls ? 443 : 80) : Number(url.port),
      path: `${url.pathname}${url.search}`,
      ...(url.username ? { auth: `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` } : {}),
    };
  }

  /** Closes the kept-alive connections to the receiver. */
  async close(): Promise<void> {
    this.agent.destroy();
  }

  /**
   * One POST. The deadline is one timer and the stop one listener, not `AbortSignal.timeout` +
   * `AbortSignal.any` per request: those cost more CPU than the loopback round trip they guard,
   * and one route's deliveries are strictly sequential (ADR 0006), so per-request overhead is the
   * route's rate. Rejects with `WebhookInterrupted` when the deadline or the stop ended it.
   */
  private post(body: Buffer, headers: Record<string, string>, stop: AbortSignal): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = this.send({ ...this.target, headers: { ...headers, 'Content-Length': String(body.length) } }, (res) => {
        readAnswer(res, WEBHOOK_TUNING.maxErrorBodyChars).then(finish(resolve), finish(reject));
      });
      const interrupt = (why: 'timeout' | 'stopped'): void => {
        req.destroy(new WebhookInterrupted(why));
      };
      const timer = setTimeout(() => interrupt('timeout'), this.config.timeoutMs);
      const onStop = (): void => interrupt('stopped');
      stop.addEventListener('abort', onStop, { once: true });
      function finish<T>(fn: (v: T) => void): (v: T) => void {
        return (v) => {
          clearTimeout(timer);
          stop.removeEventListener('abort', onStop);
          fn(v);
        };
      }
      req.on('error', finish(reject));
      if (stop.aborted) interrupt('stopped');
      else req.end(body);
    });
  }

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
    try {
      // Redirects are not followed (node:http never does): a 3xx is an answer like any other.
      const a = await this.post(body, headers, ctx.signal);
      if (a.status >= 200 && a.status < 300) return { ok: true };
      return { ok: false, error: mapWebhookStatus(a.status, a.retryAfter, a.text, Date.now()) };
    } catch (err) {
      const why = err instanceof WebhookInterrupted ? err.why : null;
      return { ok: false, error: mapWebhookError(err, { timedOut: why === 'timeout', stopped: why === 'stopped' || ctx.signal.aborted, timeoutMs: this.config.timeoutMs }) };
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
