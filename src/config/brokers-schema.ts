/**
 * The `brokers` section (SPEC "Configuration file"): the message brokers a route's `publish`
 * step names, in either mode, so an embedded deployment publishes too. One entry per server (or
 * cluster), named like a connection; its credentials are secrets like every other.
 */
import { z } from 'zod';
import { hostName, peerTls, port, secret, systemName } from './schema-common.js';

const timeoutMs = z
  .number()
  .int('must be a whole number')
  .min(100, 'must be at least 100')
  .max(600000, 'must be at most 600000')
  .default(10000)
  .meta({ description: "Time limit for connecting and for the broker's acknowledgement of one message (JetStream ack, RabbitMQ publisher confirm); over it the attempt failed and is retried." });

/** A NATS server or cluster. */
const natsBroker = z.strictObject({
  name: systemName,
  type: z.literal('nats').meta({ description: 'nats: NATS (core publish, or JetStream publish with Nats-Msg-Id where a stream captures the subject).' }),
  servers: z
    .array(
      z
        .string()
        .min(1, 'must not be empty')
        .regex(/^((nats|tls):\/\/)?[^\s/]+$/i, 'must be host:port, nats://host:port or tls://host:port'),
    )
    .min(1, 'must name at least one server')
    .meta({ description: 'Servers of the cluster: host:port (default port 4222), nats://host:port or tls://host:port; tried in turn when one is down.' }),
  user: z.string().min(1).optional().meta({ description: 'User name (with password).' }),
  password: secret.optional().meta({ description: 'Password of user.' }),
  token: secret.optional().meta({ description: 'Authentication token (instead of user and password).' }),
  tls: peerTls('NATS server')
    .unwrap()
    .optional()
    .meta({ description: 'TLS towards the NATS server: given, the connection must be TLS (verify, ca, servername); absent, TLS is used only when the server asks for it.' }),
  timeoutMs,
});

/** A RabbitMQ server (AMQP 0-9-1). */
const rabbitmqBroker = z.strictObject({
  name: systemName,
  type: z.literal('rabbitmq').meta({ description: 'rabbitmq: RabbitMQ over AMQP 0-9-1 (a confirm channel: a message counts as sent once the broker confirmed it).' }),
  host: hostName.meta({ description: "The broker's host name or IP address (bare, no port)." }),
  port: port.optional().meta({ description: 'Default 5672, or 5671 with tls.' }),
  vhost: z.string().min(1).default('/').meta({ description: 'Virtual host.' }),
  username: z.string().min(1).default('guest').meta({ description: 'User name (RabbitMQ lets guest log in from loopback only).' }),
  password: secret.optional().meta({ description: 'Password of username; absent: guest.' }),
  tls: peerTls('RabbitMQ server')
    .unwrap()
    .optional()
    .meta({ description: 'TLS towards the broker (amqps, default port 5671): verify, ca, servername. Absent: plain AMQP.' }),
  heartbeatSeconds: z.number().int('must be a whole number').min(0).max(3600).default(30).meta({ description: 'AMQP heartbeat: a connection silent this long twice over counts as dead (0: none).' }),
  timeoutMs,
});

/** One broker. */
export const broker = z.discriminatedUnion('type', [natsBroker, rabbitmqBroker]);

/** The section. */
export const brokers = z
  .array(broker)
  .default([])
  .meta({ description: 'Message brokers the publish action sends to, by name (nats or rabbitmq); in embedded and scale-out mode alike.' });

/** One broker, secrets as written. */
export type BrokerInput = z.infer<typeof broker>;

/** A broker ready to use: its secrets read (the loader's `resolveBroker`). */
export type BrokerConfig =
  | (Omit<Extract<BrokerInput, { type: 'nats' }>, 'password' | 'token' | 'tls'> & { password?: string; token?: string; tls?: { verify: boolean; ca?: string; servername?: string } })
  | (Omit<Extract<BrokerInput, { type: 'rabbitmq' }>, 'password' | 'tls'> & { password?: string; tls?: { verify: boolean; ca?: string; servername?: string } });
