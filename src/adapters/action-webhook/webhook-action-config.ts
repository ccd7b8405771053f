/**
 * Options of the `webhook` scenario action, their defaults and the tunables behind them, each
 * with its reason.
 */
import { MailsluiceError } from '../../core/errors/index.js';

/** Options of {@link createWebhookAction} (what a route's `webhook` step configures). */
export interface WebhookActionOptions {
  /** The receiver, http:// or https://. */
  url: string;
  /** Signing secret: with it every request carries `webhook-signature` (Standard Webhooks; `whsec_<base64>` or UTF-8 bytes) and the legacy `X-Mailsluice-Signature: sha256=<hex>`. */
  secret?: string | undefined;
  /** Time limit of one request, from connect to the answer's last byte. Default 30 s. */
  timeoutMs?: number | undefined;
  /** Attachments up to this size (decoded bytes) go inline as base64. Default 256 KiB. */
  inlineAttachmentsUpTo?: number | undefined;
  /** Extra request headers (Authorization, …); the ones mailsluice sets cannot be replaced. */
  headers?: Readonly<Record<string, string>> | undefined;
  /**
   * Requests on their way at once, pipelined on one connection in mailbox order. 1: one at a
   * time, so a retried message is also received before every later one. Default 8.
   */
  pipeline?: number | undefined;
  /** TLS towards an https receiver: verification (on by default), CA(s) to trust, name to verify. */
  tls?: { verify?: boolean; ca?: string | undefined; servername?: string | undefined } | undefined;
}

/** {@link WebhookActionOptions} validated, with defaults filled in. */
export interface WebhookActionConfig {
  readonly url: URL;
  readonly secret: string | undefined;
  readonly timeoutMs: number;
  readonly inlineAttachmentsUpTo: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly pipeline: number;
  readonly tls: { readonly verify: boolean; readonly ca: string | undefined; readonly servername: string | undefined };
}

/** Internal tunables, each with why it has this value. */
export const WEBHOOK_TUNING = {
  /** A receiver that has not answered in 30 s is not coming back for this request. */
  defaultTimeoutMs: 30_000,
  /**
   * 256 KiB inline keeps a typical request under half a megabyte of JSON (base64 adds a third),
   * which every HTTP framework accepts by default; larger files are sent as references.
   */
  defaultInlineAttachmentsUpTo: 256 * 1024,
  /** Of a refusing receiver's answer, this much text goes into the error sentence. */
  maxErrorBodyChars: 300,
  /**
   * A route's rate is at most this many requests per round trip: 32 keep it above 1,000/s over a
   * 30 ms network round trip (8 held it to ~270/s), and on loopback they let the answers of one
   * read free enough of the window for the next writes to leave together (8 cost the webhook
   * bench ~8% of its wall time, ADR 0008's revision). The price: a failure is overtaken by up to
   * 31 later messages; `pipeline: 1` keeps strict order.
   */
  defaultPipeline: 32,
  maxPipeline: 64,
} as const;

/** Headers the action sets itself (lower case). */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set(['content-type', 'content-length', 'idempotency-key', 'x-mailsluice-signature', 'x-mailsluice-attempt', 'host']);

/** Validates options and fills in defaults; throws `CONFIG_INVALID` for a wiring mistake. */
export function resolveWebhookActionConfig(options: WebhookActionOptions): WebhookActionConfig {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new MailsluiceError('CONFIG_INVALID', `webhook url ${JSON.stringify(options.url)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new MailsluiceError('CONFIG_INVALID', `webhook url must be http(s), not ${url.protocol}`);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.headers ?? {})) {
    if (RESERVED_HEADERS.has(k.toLowerCase()) || (k.toLowerCase() === 'authorization' && url.username !== '')) throw new MailsluiceError('CONFIG_INVALID', `webhook header ${k} is set by mailsluice itself`);
    // Written into the request as they are: a name must be a token, a value one line.
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) throw new MailsluiceError('CONFIG_INVALID', `webhook header name ${JSON.stringify(k)} is not a valid HTTP header name`);
    if (/[\r\n\0]/.test(v)) throw new MailsluiceError('CONFIG_INVALID', `webhook header ${k} has a line break or NUL in its value`);
    headers[k] = v;
  }
  const pipeline = options.pipeline ?? WEBHOOK_TUNING.defaultPipeline;
  if (!Number.isInteger(pipeline) || pipeline < 1 || pipeline > WEBHOOK_TUNING.maxPipeline) {
    throw new MailsluiceError('CONFIG_INVALID', `webhook pipeline must be a whole number from 1 to ${WEBHOOK_TUNING.maxPipeline}, not ${pipeline}`);
  }
  return Object.freeze({
    url,
    secret: options.secret || undefined,
    timeoutMs: options.timeoutMs ?? WEBHOOK_TUNING.defaultTimeoutMs,
    inlineAttachmentsUpTo: options.inlineAttachmentsUpTo ?? WEBHOOK_TUNING.defaultInlineAttachmentsUpTo,
    headers: Object.freeze(headers),
    pipeline,
    tls: Object.freeze({ verify: options.tls?.verify ?? true, ca: options.tls?.ca || undefined, servername: options.tls?.servername || undefined }),
  });
}
