/**
 * The `publish` scenario action towards NATS: the message attributes document (what a webhook
 * POSTs, `core/scenario/attributes-document.ts`) as JSON on the step's subject, with an
 * `Idempotency-Key` header.
 *
 * When a JetStream stream captures the subject, the message is a JetStream publish with
 * `Nats-Msg-Id` = the idempotency key, and the attempt succeeds once the stream acked it: a retry
 * after a crash (or after an ack that was lost) is then dropped by the stream's duplicate window
 * instead of stored twice. Otherwise it is a core publish followed by a flush (the server has
 * read it; core NATS promises no more, and no subscriber's receipt). One connection per action,
 * opened on the first message and kept, reconnecting by itself, until `close()`.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { MessageAttributes } from '../../core/message/attributes.js';
import type { ActionOutcome, DeliveryContext, ScenarioAction } from '../../core/ports/scenario-action.js';
import { toMailsluiceError } from '../../core/errors/index.js';
import { attributesDocument, type AttributesDocumentDeps } from '../../core/scenario/attributes-document.js';
import { bounded, BoundedWaitEnded } from '../timer-node/bounded.js';
import { NATS_TUNING, resolveNatsActionConfig, type NatsActionConfig, type NatsActionOptions } from './nats-action-config.js';
import { mapNatsError } from './nats-error-map.js';

/** The client's modules, imported on the first message (see {@link NatsAction.#session}). */
type Modules = [typeof import('@nats-io/transport-node'), typeof import('@nats-io/jetstream')];

/** An open connection and what was learnt about the subject on it. */
interface Session {
  nc: NatsConnection;
  js: JetStreamClient;
  headers: Modules[0]['headers'];
  /** The stream capturing the subject (null: none, or JetStream is off) and when that was asked. */
  stream?: { name: string | null; at: number };
}

/**
 * Creates the publish action of one route towards a NATS broker. Throws `CONFIG_INVALID` for
 * options that cannot work; everything about the broker is reported by `run` as a failed attempt.
 */
export function createNatsAction(options: NatsActionOptions, deps: AttributesDocumentDeps = {}): ScenarioAction {
  return new NatsAction(resolveNatsActionConfig(options), deps);
}

class NatsAction implements ScenarioAction {
  readonly kind = 'publish' as const;
  readonly #config: NatsActionConfig;
  readonly #deps: AttributesDocumentDeps;
  #session: Promise<Session> | undefined;
  #closed = false;

  constructor(config: NatsActionConfig, deps: AttributesDocumentDeps) {
    this.#config = config;
    this.#deps = deps;
  }

  async run(message: MessageAttributes, ctx: DeliveryContext): Promise<ActionOutcome> {
    const c = this.#config;
    if (this.#closed || ctx.signal.aborted) return { ok: false, error: mapNatsError(c, undefined, { aborted: true }) };
    let body: Uint8Array;
    try {
      body = Buffer.from(JSON.stringify(await attributesDocument(message, ctx, c.inlineAttachmentsUpTo, this.#deps)), 'utf8');
    } catch (err) {
      // Reading the raw message back failed: the archive's code (STORE_*) decides the retry.
      return { ok: false, error: toMailsluiceError(err) };
    }
    let s: Session | undefined;
    try {
      const deadline = Date.now() + c.timeoutMs;
      s = await bounded(this.#open(), c.timeoutMs, ctx.signal);
      const stream = await bounded(this.#streamOf(s), Math.max(1, deadline - Date.now()), ctx.signal);
      const h = s.headers();
      h.set('Idempotency-Key', ctx.idempotencyKey);
      h.set('Content-Type', 'application/json');
      const left = Math.max(1, deadline - Date.now());
      if (stream) {
        await bounded(s.js.publish(c.subject, body, { msgID: ctx.idempotencyKey, headers: h, timeout: left }), left, ctx.signal);
      } else {
        s.nc.publish(c.subject, body, { headers: h });
        await bounded(s.nc.flush(), left, ctx.signal);
      }
      return { ok: true };
    } catch (err) {
      // A stream that refused or vanished is asked about again on the next attempt.
      if (s) delete s.stream;
      const ended = err instanceof BoundedWaitEnded ? err.why : null;
      return { ok: false, error: mapNatsError(c, ended ? undefined : err, { timedOut: ended === 'timeout', aborted: ended === 'aborted' || ctx.signal.aborted, timeoutMs: c.timeoutMs }) };
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const session = this.#session;
    this.#session = undefined;
    const s = await session?.catch(() => undefined);
    // Anything still buffered goes out before the socket closes.
    await s?.nc.drain().catch(() => s.nc.close());
  }

  /** The connection, made on the first message; one that failed or closed is made again by the next. */
  #open(): Promise<Session> {
    if (!this.#session) {
      const made = Promise.all([import('@nats-io/transport-node'), import('@nats-io/jetstream')]).then((m) => this.#connect(m));
      this.#session = made;
      const forget = (): void => {
        if (this.#session === made) this.#session = undefined;
      };
      made.then((s) => s.nc.closed().then(forget), forget);
    }
    return this.#session;
  }

  async #connect([transport, jetstream]: Modules): Promise<Session> {
    const c = this.#config;
    const nc = await transport.connect({
      servers: [...c.servers],
      name: `mailsluice route ${c.route}`,
      timeout: c.timeoutMs,
      // Reconnects forever while the action lives: each attempt's own time limit bounds the wait.
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: NATS_TUNING.reconnectTimeWaitMs,
      ...(c.user !== undefined ? { user: c.user, pass: c.password ?? '' } : {}),
      ...(c.token !== undefined ? { token: c.token } : {}),
      // The client hands these to node:tls as they are (rejectUnauthorized, servername too).
      ...(c.tls
        ? { tls: { ...(c.tls.ca !== undefined ? { ca: c.tls.ca } : {}), rejectUnauthorized: c.tls.verify, ...(c.tls.servername !== undefined ? { servername: c.tls.servername } : {}) } as Record<string, unknown> }
        : {}),
    });
    if (this.#closed) {
      await nc.close();
      throw new BoundedWaitEnded('aborted');
    }
    return { nc, js: jetstream.jetstream(nc, { timeout: c.timeoutMs }), headers: transport.headers };
  }

  /** The name of the JetStream stream capturing the subject, or null; asked again after {@link NATS_TUNING.streamLookupTtlMs}. */
  async #streamOf(s: Session): Promise<string | null> {
    if (s.stream && Date.now() - s.stream.at < NATS_TUNING.streamLookupTtlMs) return s.stream.name;
    const { jetstreamManager } = await import('@nats-io/jetstream');
    let name: string | null;
    try {
      const jsm: JetStreamManager = await jetstreamManager(s.nc, { timeout: this.#config.timeoutMs });
      name = await jsm.streams.find(this.#config.subject);
    } catch (err) {
      // No stream captures the subject, or the account has no JetStream: a core publish. Anything
      // else (a timeout, the connection lost) fails the attempt.
      const e = err as { name?: string };
      if (e.name !== 'StreamNotFoundError' && e.name !== 'JetStreamNotEnabled' && e.name !== 'JetStreamNotEnabledError') throw err;
      name = null;
    }
    s.stream = { name, at: Date.now() };
    return name;
  }
}
