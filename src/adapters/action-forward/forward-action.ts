/**
 * The `forward` scenario action: re-sends the original message, exactly as archived, to fixed
 * recipients through an SMTP (or LMTP) relay with nodemailer.
 *
 * The archived bytes go out as nodemailer's `raw` message with an explicit `envelope`, so
 * nothing is parsed, re-encoded or added (no Message-ID, no Date, no X-Mailer): the recipient
 * gets what the journal mailbox got, which is what makes a forwarded journal copy evidence.
 * The only change is the one SMTP itself makes on the wire (bare LF sent as CRLF, dot-stuffing).
 */
import type { Transporter } from 'nodemailer';
import type { MessageAttributes } from '../../core/message/attributes.js';
import type { ActionOutcome, DeliveryContext, ScenarioAction } from '../../core/ports/scenario-action.js';
import { toMailsluiceError } from '../../core/errors/index.js';
import { FORWARD_DEFAULTS, resolveForwardActionConfig, type ForwardActionConfig, type ForwardActionOptions } from './forward-action-config.js';
import { mapForwardError, mapPartialRejection, type NodemailerLikeError } from './forward-error-map.js';

/**
 * Creates the `forward` action of one route. The connection pool to the relay opens on the
 * first message and is closed by `close()`. Throws `CONFIG_INVALID` for options that cannot be
 * right (no recipients, a relay with a protocol prefix); everything about the relay itself is
 * reported by `run` as a failed attempt.
 */
export function createForwardAction(options: ForwardActionOptions): ScenarioAction {
  return new ForwardAction(resolveForwardActionConfig(options));
}

class ForwardAction implements ScenarioAction {
  readonly kind = 'forward' as const;
  readonly #config: ForwardActionConfig;
  /** The pooled transport, made on the first send (a failed attempt is made again by the next). */
  #transport: Promise<Transporter> | undefined;
  #closed = false;

  constructor(config: ForwardActionConfig) {
    this.#config = config;
  }

  async run(_message: MessageAttributes, ctx: DeliveryContext): Promise<ActionOutcome> {
    const c = this.#config;
    if (this.#closed || ctx.signal.aborted) return { ok: false, error: mapForwardError(c, undefined, true) };
    let raw: Buffer;
    try {
      raw = await ctx.readRaw();
    } catch (err) {
      // The archive's own error (STORE_NOT_FOUND, STORE_CORRUPT, …) says best what is wrong.
      return { ok: false, error: toMailsluiceError(err) };
    }
    let info: { accepted?: unknown; rejected?: unknown; rejectedErrors?: unknown };
    try {
      info = (await (await this.#transporter()).sendMail({
        envelope: { from: c.from, to: [...c.to] },
        raw,
        signal: ctx.signal,
      })) as typeof info;
    } catch (err) {
      return { ok: false, error: mapForwardError(c, err, ctx.signal.aborted) };
    }
    const rejected = strings(info.rejected);
    if (rejected.length > 0) {
      const errors = Array.isArray(info.rejectedErrors) ? (info.rejectedErrors as NodemailerLikeError[]) : [];
      return { ok: false, error: mapPartialRejection(c, strings(info.accepted), rejected, errors) };
    }
    return { ok: true };
  }

  async close(): Promise<void> {
    this.#closed = true;
    const transport = this.#transport;
    this.#transport = undefined;
    // Closed as soon as it exists, if it was still being made.
    (await transport?.catch(() => undefined))?.close();
  }

  /**
   * The pooled transport, made on the first send. nodemailer is imported only then: it is the
   * largest module a drain would otherwise load (~70 ms of start-up on this VM, on the main
   * thread and again on the dispatcher's) for a route kind most configurations never use.
   */
  #transporter(): Promise<Transporter> {
    if (!this.#transport) {
      const made = import('nodemailer').then(({ createTransport }) => this.#make(createTransport));
      made.catch(() => {
        if (this.#transport === made) this.#transport = undefined;
      });
      this.#transport = made;
    }
    return this.#transport;
  }

  #make(createTransport: typeof import('nodemailer').createTransport): Transporter {
    const c = this.#config;
    const transport = createTransport({
      pool: true,
      maxConnections: c.connections,
      maxMessages: FORWARD_DEFAULTS.messagesPerConnection,
      host: c.host,
      port: c.port,
      secure: c.secure,
      lmtp: c.lmtp,
      ...(c.auth ? { auth: { user: c.auth.user, pass: c.auth.pass } } : {}),
      tls: {
        rejectUnauthorized: c.tls.verify,
        ...(c.tls.ca !== undefined ? { ca: c.tls.ca } : {}),
        ...(c.tls.servername !== undefined ? { servername: c.tls.servername } : {}),
      },
      connectionTimeout: c.timeoutMs,
      greetingTimeout: c.timeoutMs,
      socketTimeout: c.timeoutMs,
      // nodemailer's logger would print envelopes (and, at debug, the AUTH exchange) to stdout.
      logger: false,
      debug: false,
      // Only the Buffer given as `raw` is sent: never a file path or URL from a message field.
      disableFileAccess: true,
      disableUrlAccess: true,
    });
    // Every failure reaches the send's own callback; an 'error' event without a listener
    // (nodemailer re-emits its transport's) would end the whole service instead.
    transport.on('error', () => undefined);
    return transport;
  }
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
