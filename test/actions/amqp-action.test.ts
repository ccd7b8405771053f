/**
 * The publish action towards RabbitMQ on the real server (test/harness/brokers.ts): the document
 * is the webhook's (the same builder), the message is persistent JSON with messageId and the
 * Idempotency-Key header = the idempotency key, confirmed by the broker; the broker's refusals map
 * to the catalogue: an exchange that does not exist (not retryable, and the action recovers its
 * channel), a queue that rejects publishes when full (a nack: retryable), a wrong password and a
 * missing vhost (not retryable).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAmqpAction } from '../../src/adapters/action-amqp/index.js';
import { attributesDocument } from '../../src/core/scenario/attributes-document.js';
import type { ActionOutcome } from '../../src/core/ports/scenario-action.js';
import type { MailsluiceError } from '../../src/core/errors/index.js';
import { attributes, deliveryContext } from './action-fixtures.js';
import { testExchange, TEST_AMQP } from '../harness/brokers.js';

const raw = Buffer.from('Subject: s\r\n\r\nhello\r\n');
const errorOf = (o: ActionOutcome): MailsluiceError => {
  assert.equal(o.ok, false, JSON.stringify(o));
  return (o as { ok: false; error: MailsluiceError }).error;
};

test('a confirmed, persistent JSON message with messageId and Idempotency-Key: the webhook document', async () => {
  const x = await testExchange();
  const action = createAmqpAction({ route: 'r1', broker: 'rabbit', ...TEST_AMQP, exchange: x.exchange, routingKey: x.routingKey });
  try {
    const message = { ...attributes('hello'), ArchiveId: 'b'.repeat(64) };
    const ctx = deliveryContext(raw, { idempotencyKey: 'journal.r1.3.1', deliveryId: 'journal.r1.3' });
    assert.equal((await action.run(message, ctx)).ok, true);
    const [m, ...rest] = await x.take();
    assert.equal(rest.length, 0);
    assert.equal(m!.msgId, 'journal.r1.3.1');
    assert.equal(m!.key, 'journal.r1.3.1');
    assert.equal(m!.deliveryMode, 2, 'persistent');
    assert.equal(m!.contentType, 'application/json');
    assert.deepEqual(m!.body, JSON.parse(JSON.stringify(await attributesDocument(message, ctx, 0))));
  } finally {
    await action.close?.();
    await x.delete();
  }
});

test('an exchange that does not exist is ACTION_PUBLISH_NOT_FOUND naming it, not retryable; the action publishes again afterwards', async () => {
  const x = await testExchange();
  const missing = `${x.exchange}.missing`;
  const action = createAmqpAction({ route: 'r1', broker: 'rabbit', ...TEST_AMQP, exchange: missing, routingKey: 'mail' });
  try {
    const e = errorOf(await action.run(attributes('x'), deliveryContext(raw)));
    assert.equal(e.code, 'ACTION_PUBLISH_NOT_FOUND', e.message);
    assert.equal(e.retryable, false);
    assert.ok(e.message.includes(missing), e.message);
    // The broker closed the channel; the next attempt opens another (still refused, same reason).
    assert.equal(errorOf(await action.run(attributes('y'), deliveryContext(raw))).code, 'ACTION_PUBLISH_NOT_FOUND');
  } finally {
    await action.close?.();
    await x.delete();
  }
});

test('a queue that rejects publishes when full: the nack is ACTION_PUBLISH_DEFERRED, retryable', async () => {
  const x = await testExchange({ 'x-max-length': 1, 'x-overflow': 'reject-publish' });
  const action = createAmqpAction({ route: 'r1', broker: 'rabbit', ...TEST_AMQP, exchange: x.exchange, routingKey: x.routingKey });
  try {
    assert.equal((await action.run(attributes('one'), deliveryContext(raw))).ok, true);
    const e = errorOf(await action.run(attributes('two'), deliveryContext(raw)));
    assert.equal(e.code, 'ACTION_PUBLISH_DEFERRED', e.message);
    assert.equal(e.retryable, true);
    await x.take();
    assert.equal((await action.run(attributes('two'), deliveryContext(raw))).ok, true, 'taken once the queue has room');
  } finally {
    await action.close?.();
    await x.delete();
  }
});

test('a wrong password and a missing vhost are not retryable, and the password is not in the sentence', async () => {
  const bad = createAmqpAction({ route: 'r1', broker: 'rabbit', ...TEST_AMQP, password: 'not-the-password', exchange: 'amq.direct' });
  const vhost = createAmqpAction({ route: 'r1', broker: 'rabbit', ...TEST_AMQP, vhost: 'no-such-vhost-ms', exchange: 'amq.direct' });
  try {
    const e = errorOf(await bad.run(attributes('x'), deliveryContext(raw)));
    assert.equal(e.code, 'ACTION_PUBLISH_AUTH_REJECTED', e.message);
    assert.equal(e.retryable, false);
    assert.doesNotMatch(e.message, /not-the-password/);
    const v = errorOf(await vhost.run(attributes('x'), deliveryContext(raw)));
    assert.equal(v.code, 'ACTION_PUBLISH_NOT_FOUND', v.message);
    assert.match(v.message, /no-such-vhost-ms/);
  } finally {
    await bad.close?.();
    await vhost.close?.();
  }
});
