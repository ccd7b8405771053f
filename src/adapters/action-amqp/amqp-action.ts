/**
 * The `publish` scenario action towards RabbitMQ (AMQP 0-9-1, amqplib): the message attributes
 * document (what a webhook POSTs, `core/scenario/attributes-document.ts`) as a persistent JSON
 * message on the step's exchange and routing key, `messageId` and the `Idempotency-Key` header
 * both the delivery's idempotency key, on a confirm channel: the attempt succeeds once the broker
 * confirmed the message (it is then in every queue it was routed to, on disk for a durable
 * one). AMQP has no publisher-side dedup: a retry after a lost confirm is published again, under
 * the same `messageId`, which a consumer deduplicates by.
 *
 * One connection and one channel per action, opened on the first message and kept; a channel
 * the broker closed (a missing exchange) or a lost connection is opened again by the next
 * attempt. The exchange is never declared: a typo must not create one that routes nowhere.
 */
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import type { MessageAttributes } from '../../core/message/attributes.js';
import type { ActionOutcome, DeliveryContext, ScenarioAction } from '../../core/ports/scenario-action.js';
import { toMailsluiceError } from '../../core/errors/index.js';
import { attributesDocument, type AttributesDocumentDeps } from '../../core/scenario/attributes-document.js';
import { bounded, BoundedWaitEnded } from '../timer-node/bounded.js';
import { resolveAmqpActionConfig, type AmqpActionConfig, type AmqpActionOptions } from './amqp-action-config.js';
import { mapAmqpError } from './amqp-error-map.js';

/** The channel and what the broker said when it closed it, if it did. */
interface Open {
  channel: ConfirmChannel;
  /** The channel is closed (by the broker, the network or `close()`). */
  closed?: boolean;
  /** Set by the channel's `error` event: the reason amqplib does not hand the publish's callback. */
  closedWith?: unknown;
}

/**
 * Creates the publish action of one route towards a RabbitMQ broker. Throws `CONFIG_INVALID`
 * for options that cannot work; everything about the broker is reported by `run` as a failed attempt.
 */
export function createAmqpAction(options: AmqpActionOptions, deps: AttributesDocumentDeps = {}): ScenarioAction {
  return new AmqpAction(resolveAmqpActionConfig(options), deps);
}

class AmqpAction implements ScenarioAction {
  readonly kind = 'publish' as const;
  /**
   * Publishes on their way at once: a confirm channel sends them in call order and the broker
   * confirms them as they are written, so a route waits for one fsync per window rather than per
   * message (7.5 ms a message one at a time against a durable queue here; ADR 0054).
   */
  readonly inOrder: number;
  readonly #config: AmqpActionConfig;
  /** Settles when the call before the latest has handed its message to the channel: keeps call order across the awaits before it. */
  #turn: Promise<void> = Promise.resolve();
  readonly #deps: AttributesDocumentDeps;
  #connection: Promise<ChannelModel> | undefined;
  #channel: Promise<Open> | undefined;
  #closed = false;

  constructor(config: AmqpActionConfig, deps: AttributesDocumentDeps) {
    this.#config = config;
    this.#deps = deps;
    this.inOrder = config.window;
  }

  async run(message: MessageAttributes, ctx: DeliveryContext): Promise<ActionOutcome> {
    const c = this.#config;
    if (this.#closed || ctx.signal.aborted) return { ok: false, error: mapAmqpError(c, undefined, { aborted: true }) };
    // The place in the send order is taken now, before anything is awaited.
    const before = this.#turn;
    let handed!: () => void;
    this.#turn = new Promise<void>((resolve) => (handed = resolve));
    let open: Open | undefined;
    let published = false;
    try {
      let body: Buffer;
      try {
        body = Buffer.from(JSON.stringify(await attributesDocument(message, ctx, c.inlineAttachmentsUpTo, this.#deps)), 'utf8');
      } catch (err) {
        // Reading the raw message back failed: the archive's code (STORE_*) decides the retry.
        return { ok: false, error: toMailsluiceError(err) };
      }
      const deadline = Date.now() + c.timeoutMs;
      await before;
      open = await bounded(this.#open(), c.timeoutMs, ctx.signal);
      const ch = open.channel;
      const confirmed = new Promise<void>((resolve, reject) => {
        ch.publish(
          c.exchange,
          c.routingKey,
          body,
          {
            persistent: true,
            contentType: 'application/json',
            contentEncoding: 'utf-8',
            messageId: ctx.idempotencyKey,
            appId: 'mailsluice',
            timestamp: Math.floor(Date.now() / 1000),
            headers: { 'Idempotency-Key': ctx.idempotencyKey, 'Mailsluice-Route': ctx.route, 'Mailsluice-Connection': ctx.connection },
          },
          (err) => (err ? reject(err as Error) : resolve()),
        );
      });
      handed();
      published = true;
      await bounded(confirmed, Math.max(1, deadline - Date.now()), ctx.signal);
      return { ok: true };
    } catch (err) {
      const ended = err instanceof BoundedWaitEnded ? err.why : null;
      // A confirm callback's error on a channel still open is the broker's nack (amqplib's sentence is all it gives).
      const nacked = published && !ended && open !== undefined && !open.closed && open.closedWith === undefined;
      const why = { timedOut: ended === 'timeout', aborted: ended === 'aborted' || ctx.signal.aborted, timeoutMs: c.timeoutMs, channelError: open?.closedWith, nacked, handshake: open === undefined && !ended };
      return { ok: false, error: mapAmqpError(c, ended ? undefined : err, why) };
    } finally {
      handed();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const connection = this.#connection;
    this.#connection = undefined;
    this.#channel = undefined;
    // Closing the connection closes its channel; what is unconfirmed fails its attempt.
    await (await connection?.catch(() => undefined))?.close().catch(() => undefined);
  }

  /** The confirm channel, made on first use and again after the broker or the network closed it. */
  #open(): Promise<Open> {
    if (!this.#channel) {
      const made = this.#connect().then(async (conn) => {
        const channel = await conn.createConfirmChannel();
        const open: Open = { channel };
        channel.on('error', (err: unknown) => (open.closedWith = err));
        channel.on('close', () => {
          open.closed = true;
          if (this.#channel === made) this.#channel = undefined;
        });
        return open;
      });
      this.#channel = made;
      made.catch(() => {
        if (this.#channel === made) this.#channel = undefined;
      });
    }
    return this.#channel;
  }

  #connect(): Promise<ChannelModel> {
    if (!this.#connection) {
      const c = this.#config;
      const made = import('amqplib').then(async ({ connect }) => {
        const conn = await connect(
          { protocol: c.tls ? 'amqps' : 'amqp', hostname: c.host, port: c.port, vhost: c.vhost, username: c.username, password: c.password, heartbeat: c.heartbeatSeconds },
          {
            timeout: c.timeoutMs,
            clientProperties: { connection_name: `mailsluice route ${c.route}` },
            ...(c.tls ? { rejectUnauthorized: c.tls.verify, ...(c.tls.ca !== undefined ? { ca: c.tls.ca } : {}), servername: c.tls.servername ?? c.host } : {}),
          },
        );
        // An error event without a listener would end the service; the close below forgets it.
        conn.on('error', () => undefined);
        conn.on('close', () => {
          if (this.#connection === made) {
            this.#connection = undefined;
            this.#channel = undefined;
          }
        });
        if (this.#closed) {
          await conn.close().catch(() => undefined);
          throw new BoundedWaitEnded('aborted');
        }
        return conn;
      });
      this.#connection = made;
      made.catch(() => {
        if (this.#connection === made) this.#connection = undefined;
      });
    }
    return this.#connection;
  }
}
