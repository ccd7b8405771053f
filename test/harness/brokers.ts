/**
 * The message brokers for the publish action's tests: the NATS server (JetStream on) and the
 * RabbitMQ server these machines run (127.0.0.1:4222 and 127.0.0.1:5672, or the ones
 * `MAILSLUICE_TEST_NATS` / `MAILSLUICE_TEST_AMQP_HOST` name). Each test gets a uniquely named
 * JetStream stream (and subject prefix) or exchange and queue, deleted after, so tests never see
 * each other's messages; `privateNatsServer` starts a server of its own (with credentials) and
 * stops it by its PID.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import amqp from 'amqplib';
import { freePort } from './free-port.js';

/** The test NATS server: `host:port`. */
export const TEST_NATS = process.env.MAILSLUICE_TEST_NATS ?? '127.0.0.1:4222';
/** The test RabbitMQ server (guest/guest, which RabbitMQ accepts from loopback). */
export const TEST_AMQP = { host: process.env.MAILSLUICE_TEST_AMQP_HOST ?? '127.0.0.1', port: Number(process.env.MAILSLUICE_TEST_AMQP_PORT ?? 5672), username: 'guest', password: 'guest' };

const unique = (): string => `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;

/** One message as it lies in a stream or a queue, read independently of mailsluice. */
export interface BrokerMessage {
  /** The JSON document, parsed. */
  body: { route: string; connection: string; deliveryId: string; message: Record<string, unknown> & { Subject?: string } };
  /** The `Idempotency-Key` header. */
  key: string | null;
  /** NATS: the `Nats-Msg-Id` header; RabbitMQ: `messageId`. */
  msgId: string | null;
  /** RabbitMQ: the delivery mode (2: persistent). */
  deliveryMode?: number;
  contentType?: string | null;
}

/** A JetStream stream of its own capturing `<prefix>.>`. */
export interface TestStream {
  name: string;
  /** A subject the stream captures. */
  subject: string;
  /** A subject no stream captures (core NATS). */
  uncaptured: string;
  nc: NatsConnection;
  jsm: JetStreamManager;
  /** Every message in the stream, in order. */
  messages(): Promise<BrokerMessage[]>;
  /** Deletes the stream and closes the connection. */
  delete(): Promise<void>;
}

/** Makes a {@link TestStream}; `limits` are added to the stream's configuration. */
export async function testStream(limits: Record<string, unknown> = {}): Promise<TestStream> {
  const id = unique();
  const nc = await natsConnect({ servers: TEST_NATS });
  const jsm = await jetstreamManager(nc);
  const name = `MS_TEST_${id.toUpperCase()}`;
  await jsm.streams.add({ name, subjects: [`mstest.${id}.s.>`], duplicate_window: 60_000_000_000, ...limits });
  return {
    name,
    subject: `mstest.${id}.s.mail`,
    uncaptured: `mstest.${id}.core.mail`,
    nc,
    jsm,
    async messages() {
      const info = await jsm.streams.info(name);
      const out: BrokerMessage[] = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
        const m = await jsm.streams.getMessage(name, { seq });
        if (!m) continue;
        out.push({ body: m.json(), key: m.header.get('Idempotency-Key') || null, msgId: m.header.get('Nats-Msg-Id') || null });
      }
      return out;
    },
    async delete() {
      await jsm.streams.delete(name).catch(() => undefined);
      await nc.close();
    },
  };
}

/** A core NATS subscription on a subject of its own: what a core publish reached. */
export async function testSubscriber(): Promise<{ subject: string; seen: BrokerMessage[]; close(): Promise<void> }> {
  const nc = await natsConnect({ servers: TEST_NATS });
  const subject = `mstest.${unique()}.core`;
  const seen: BrokerMessage[] = [];
  nc.subscribe(subject, { callback: (_err, m) => void seen.push({ body: m.json(), key: m.headers?.get('Idempotency-Key') || null, msgId: m.headers?.get('Nats-Msg-Id') || null }) });
  await nc.flush();
  return { subject, seen, close: () => nc.close() };
}

/** A RabbitMQ direct exchange of its own with one queue bound by `routingKey`. */
export interface TestExchange {
  exchange: string;
  queue: string;
  routingKey: string;
  /** Takes every message now in the queue (acked), in order. */
  take(): Promise<BrokerMessage[]>;
  /** Deletes the queue and the exchange and closes the connection. */
  delete(): Promise<void>;
}

/** Makes a {@link TestExchange}; `queueArguments` go to the queue (e.g. `x-max-length`). */
export async function testExchange(queueArguments: Record<string, unknown> = {}): Promise<TestExchange> {
  const id = unique();
  const conn = await amqp.connect({ hostname: TEST_AMQP.host, port: TEST_AMQP.port, username: TEST_AMQP.username, password: TEST_AMQP.password });
  const ch = await conn.createChannel();
  const exchange = `mstest.${id}.x`;
  const queue = `mstest.${id}.q`;
  const routingKey = 'mail';
  await ch.assertExchange(exchange, 'direct', { durable: true, autoDelete: false });
  await ch.assertQueue(queue, { durable: true, arguments: queueArguments });
  await ch.bindQueue(queue, exchange, routingKey);
  return {
    exchange,
    queue,
    routingKey,
    async take() {
      const out: BrokerMessage[] = [];
      for (;;) {
        const m = await ch.get(queue, { noAck: true });
        if (!m) return out;
        const h = m.properties.headers ?? {};
        out.push({
          body: JSON.parse(m.content.toString('utf8')),
          key: typeof h['Idempotency-Key'] === 'string' ? h['Idempotency-Key'] : null,
          msgId: typeof m.properties.messageId === 'string' ? m.properties.messageId : null,
          deliveryMode: m.properties.deliveryMode as number,
          contentType: (m.properties.contentType as string | undefined) ?? null,
        });
      }
    },
    async delete() {
      await ch.deleteQueue(queue).catch(() => undefined);
      await ch.deleteExchange(exchange).catch(() => undefined);
      await conn.close().catch(() => undefined);
    },
  };
}

/** A NATS server of this test's own on a free loopback port, with a user and password; stopped by its PID. */
export async function privateNatsServer(user: string, pass: string): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '--user', user, '--pass', pass], { stdio: 'ignore' });
  const until = Date.now() + 10_000;
  for (;;) {
    try {
      const nc = await natsConnect({ servers: `127.0.0.1:${port}`, user, pass, timeout: 500, reconnect: false });
      await nc.close();
      break;
    } catch (err) {
      if (Date.now() > until || child.exitCode !== null) {
        child.kill('SIGKILL');
        throw new Error(`nats-server did not start on port ${port}: ${String(err)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url: `127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(child.pid!, 'SIGTERM');
      await exited;
    },
  };
}
