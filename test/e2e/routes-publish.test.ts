/**
 * The publish action end to end: `mailsluice drain` (embedded mode) of a real Dovecot mailbox
 * with routes publishing to the real NATS (a JetStream stream of the test's own) and the real
 * RabbitMQ (an exchange and queue of the test's own), brokers named in the brokers section. Every
 * message is published exactly once to each, with its attributes and one idempotency key, and is
 * gone from the mailbox; a second drain publishes nothing more.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startDovecot, type DovecotInstance } from '../harness/dovecot.js';
import { makeWorkspace, runCli, imapConnection } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { testExchange, testStream, TEST_AMQP, TEST_NATS, type BrokerMessage } from '../harness/brokers.js';

let dovecot: DovecotInstance;
before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

const N = 40;
const num = (m: BrokerMessage): number => Number(/^Report (\d+)/.exec(String(m.body.message.Subject))?.[1]);

test('drain publishes every message once to a JetStream stream and a RabbitMQ exchange, with its attributes, and empties the mailbox', async () => {
  const user = await dovecot.createUser();
  const mail = Array.from({ length: N }, (_, i) => makeMessage(i, { bodyBytes: 2000, attachmentBytes: i % 10 === 1 ? 3000 : 0 }));
  await dovecot.loadMaildir(user.username, mail);
  const stream = await testStream();
  const x = await testExchange();
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user)],
    deliveryRetry: { baseMs: 50, maxMs: 200 },
    brokers: [
      { name: 'events', type: 'nats', servers: [TEST_NATS] },
      { name: 'rabbit', type: 'rabbitmq', host: TEST_AMQP.host, port: TEST_AMQP.port, username: TEST_AMQP.username, password: { env: 'RABBIT_PASSWORD' } },
    ],
    routes: [
      { name: 'to_nats', connection: 'journal', bus: 0, scenario: [{ action: 'archive' }, { action: 'publish', broker: 'events', subject: stream.subject }] },
      { name: 'to_rabbit', connection: 'journal', bus: 1, scenario: [{ action: 'publish', broker: 'rabbit', exchange: x.exchange, routingKey: x.routingKey, inlineAttachmentsUpTo: 65536 }] },
    ],
  });
  const env = { RABBIT_PASSWORD: TEST_AMQP.password };
  try {
    const check = await runCli(['config', 'check'], ws, env);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    const r = await runCli(['drain', '--json'], ws, env);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { taken: number; routes: Record<string, unknown> };
    assert.equal(summary.taken, N);
    assert.deepEqual(summary.routes, {
      to_nats: { delivered: N, dead: 0, retries: 0, failed: 0 },
      to_rabbit: { delivered: N, dead: 0, retries: 0, failed: 0 },
    });
    assert.equal(await dovecot.messageCount(user.username), 0, 'the mailbox is empty');

    const onNats = await stream.messages();
    const onRabbit = await x.take();
    for (const [got, route, step] of [
      [onNats, 'to_nats', 1],
      [onRabbit, 'to_rabbit', 0],
    ] as const) {
      assert.equal(got.length, N, `${route}: ${N} messages`);
      assert.deepEqual(got.map(num).sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i), `${route}: each message exactly once`);
      assert.deepEqual(got.map(num), [...got.map(num)].sort((a, b) => a - b), `${route}: in mailbox order`);
      for (const m of got) {
        assert.equal(m.body.route, route);
        assert.equal(m.key, `${m.body.deliveryId}.${step}`, 'the delivery step idempotency key');
        assert.equal(m.msgId, m.key, 'Nats-Msg-Id / messageId is the idempotency key');
        const a = m.body.message;
        for (const k of ['From', 'To', 'Subject', 'ReceivedDate', 'GlobalMessageId', 'TextBody', 'Attachments', 'CustomHeaders', 'Source', 'ArchiveId']) assert.ok(k in a, `${route}: message.${k}`);
        assert.equal(a.ArchiveId, createHash('sha256').update(mail[num(m)]!).digest('hex'));
        const att = a.Attachments as Array<{ Content: unknown }>;
        if (num(m) % 10 === 1) {
          assert.equal(att.length, 1);
          // to_rabbit inlines up to 64 KiB; to_nats (default 0) sends a reference.
          assert.equal(typeof att[0]!.Content, route === 'to_rabbit' ? 'string' : 'object');
        }
      }
    }

    const again = await runCli(['drain', '--json'], ws, env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await stream.messages()).length, N, 'a second drain publishes nothing more');
    assert.equal((await x.take()).length, 0);
  } finally {
    ws.cleanup();
    await stream.delete();
    await x.delete();
  }
});

test('config check names a publish step broker that the brokers section does not have', async () => {
  const ws = makeWorkspace({
    brokers: [{ name: 'events', type: 'nats', servers: [TEST_NATS] }],
    connections: [{ name: 'journal', protocol: 'imap', host: '127.0.0.1', auth: { type: 'basic', username: 'u', password: 'p' } }],
    routes: [
      { name: 'r', connection: 'journal', scenario: [{ action: 'publish', broker: 'evnets', subject: 'mail.x' }] },
      { name: 'q', connection: 'journal', scenario: [{ action: 'publish', broker: 'events', exchange: 'mail' }] },
    ],
  });
  try {
    const r = await runCli(['config', 'check'], ws);
    assert.notEqual(r.code, 0);
    const out = r.stdout + r.stderr;
    assert.match(out, /routes\[0\]\.scenario\[0\]\.broker.*no broker named "evnets".*events/);
    assert.match(out, /routes\[1\]\.scenario\[0\]\.subject.*is required: broker events is NATS/);
    assert.match(out, /routes\[1\]\.scenario\[0\]\.exchange.*only applies to a RabbitMQ broker/);
  } finally {
    ws.cleanup();
  }
});
