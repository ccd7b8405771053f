/**
 * The publish action towards NATS on the real server (test/harness/brokers.ts): the document is
 * the webhook's (the same builder), a JetStream publish carries Nats-Msg-Id = the idempotency key
 * so the stream drops a retry, a core publish reaches a subscriber with the key in a header, and
 * the server's own refusals map to the catalogue: a message over a stream's max_msg_size (not
 * retryable), a full stream (retryable), a stream deleted under the action (retryable, and the
 * next attempt publishes with core NATS), refused credentials of a private server (not retryable).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNatsAction } from '../../src/adapters/action-nats/index.js';
import { attributesDocument } from '../../src/core/scenario/attributes-document.js';
import type { ActionOutcome } from '../../src/core/ports/scenario-action.js';
import type { MailsluiceError } from '../../src/core/errors/index.js';
import { attributes, deliveryContext } from './action-fixtures.js';
import { privateNatsServer, testStream, testSubscriber, TEST_NATS } from '../harness/brokers.js';

const raw = Buffer.from('Subject: s\r\n\r\nhello\r\n');
const errorOf = (o: ActionOutcome): MailsluiceError => {
  assert.equal(o.ok, false, JSON.stringify(o));
  return (o as { ok: false; error: MailsluiceError }).error;
};

test('JetStream: the webhook document, Idempotency-Key and Nats-Msg-Id; a retry under the same key is stored once', async () => {
  const stream = await testStream();
  const action = createNatsAction({ route: 'r1', broker: 'nats', servers: [TEST_NATS], subject: stream.subject });
  try {
    const message = { ...attributes('hello'), ArchiveId: 'a'.repeat(64) };
    const ctx = deliveryContext(raw, { idempotencyKey: 'journal.r1.9.0', deliveryId: 'journal.r1.9' });
    assert.equal((await action.run(message, ctx)).ok, true);
    assert.equal((await action.run(message, { ...ctx, attempt: 2 })).ok, true, 'a retry (its ack was lost) succeeds too');
    const got = await stream.messages();
    assert.equal(got.length, 1, 'the stream dropped the retry as a duplicate');
    assert.equal(got[0]!.key, 'journal.r1.9.0');
    assert.equal(got[0]!.msgId, 'journal.r1.9.0');
    assert.deepEqual(got[0]!.body, JSON.parse(JSON.stringify(await attributesDocument(message, ctx, 0))), 'the document a webhook sends');
  } finally {
    await action.close?.();
    await stream.delete();
  }
});

test('core NATS: a subject no stream captures gets a core publish (no Nats-Msg-Id), flushed', async () => {
  const sub = await testSubscriber();
  const action = createNatsAction({ route: 'r1', broker: 'nats', servers: [TEST_NATS], subject: sub.subject });
  try {
    for (let i = 0; i < 5; i++) assert.equal((await action.run(attributes(`m${i}`), deliveryContext(raw, { idempotencyKey: `k${i}` }))).ok, true);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(sub.seen.map((m) => [m.body.message.Subject, m.key, m.msgId]), [0, 1, 2, 3, 4].map((i) => [`m${i}`, `k${i}`, null]), 'in order, once each, on one connection');
  } finally {
    await action.close?.();
    await sub.close();
  }
});

test('a message over the stream max_msg_size is ACTION_PUBLISH_REJECTED, not retryable; a full stream is ACTION_PUBLISH_DEFERRED', async () => {
  const small = await testStream({ max_msg_size: 200 });
  const full = await testStream({ max_msgs: 1, discard: 'new' });
  const a1 = createNatsAction({ route: 'r1', broker: 'nats', servers: [TEST_NATS], subject: small.subject });
  const a2 = createNatsAction({ route: 'r1', broker: 'nats', servers: [TEST_NATS], subject: full.subject });
  try {
    const big = errorOf(await a1.run(attributes('x'.repeat(500)), deliveryContext(raw)));
    assert.equal(big.code, 'ACTION_PUBLISH_REJECTED', big.message);
    assert.equal(big.retryable, false);
    assert.equal((await a2.run(attributes('one'), deliveryContext(raw, { idempotencyKey: 'k1' }))).ok, true);
    const e = errorOf(await a2.run(attributes('two'), deliveryContext(raw, { idempotencyKey: 'k2' })));
    assert.equal(e.code, 'ACTION_PUBLISH_DEFERRED', e.message);
    assert.equal(e.retryable, true);
    assert.match(e.message, /maximum messages/);
  } finally {
    await a1.close?.();
    await a2.close?.();
    await small.delete();
    await full.delete();
  }
});

test('a stream deleted under the action: the next attempt fails retryable, the one after publishes with core NATS', async () => {
  const stream = await testStream();
  const action = createNatsAction({ route: 'r1', broker: 'nats', servers: [TEST_NATS], subject: stream.subject, timeoutMs: 3_000 });
  const sub = stream.nc.subscribe(stream.subject);
  try {
    assert.equal((await action.run(attributes('before'), deliveryContext(raw))).ok, true);
    await stream.jsm.streams.delete(stream.name);
    const e = errorOf(await action.run(attributes('during'), deliveryContext(raw)));
    assert.equal(e.retryable, true, `${e.code}: ${e.message}`);
    assert.equal((await action.run(attributes('after'), deliveryContext(raw))).ok, true, 'published with core NATS once no stream captures the subject');
  } finally {
    sub.unsubscribe();
    await action.close?.();
    await stream.delete();
  }
});

test('refused credentials (a private server with a user) are ACTION_PUBLISH_AUTH_REJECTED, not retryable; the right ones publish', async () => {
  const server = await privateNatsServer('mail', 's3cret-pw');
  const bad = createNatsAction({ route: 'r1', broker: 'nats', servers: [server.url], subject: 'a.b', user: 'mail', password: 'wrong', timeoutMs: 3_000 });
  const good = createNatsAction({ route: 'r1', broker: 'nats', servers: [server.url], subject: 'a.b', user: 'mail', password: 's3cret-pw', timeoutMs: 3_000 });
  try {
    const e = errorOf(await bad.run(attributes('x'), deliveryContext(raw)));
    assert.equal(e.code, 'ACTION_PUBLISH_AUTH_REJECTED', e.message);
    assert.equal(e.retryable, false);
    assert.doesNotMatch(e.message, /wrong/, 'the password is not in the sentence');
    assert.equal((await good.run(attributes('x'), deliveryContext(raw))).ok, true);
  } finally {
    await bad.close?.();
    await good.close?.();
    await server.stop();
  }
});

test('the server stopped under a kept connection: an attempt while it is down fails retryable, not a throw', async () => {
  const server = await privateNatsServer('u', 'p');
  const action = createNatsAction({ route: 'r1', broker: 'nats', servers: [server.url], subject: 'a.b', user: 'u', password: 'p', timeoutMs: 1_500 });
  try {
    assert.equal((await action.run(attributes('x'), deliveryContext(raw))).ok, true);
    await server.stop();
    const e = errorOf(await action.run(attributes('y'), deliveryContext(raw)));
    assert.equal(e.retryable, true, `${e.code}: ${e.message}`);
  } finally {
    await action.close?.();
    await server.stop();
  }
});
