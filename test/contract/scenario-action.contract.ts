/**
 * The ScenarioAction port's contract: what every action adapter must do (webhook, script,
 * forward, and any to come). An adapter's test file calls {@link runScenarioActionContract} with a
 * factory that builds the action in front of a real receiver of its own kind (an HTTP server, a
 * script module, an SMTP server) which answers by the message's Subject, the same in every
 * harness:
 *
 * | Subject | the receiver |
 * | --- | --- |
 * | `refuse-retryable` | refuses for now (HTTP 503, SMTP 451, a script that throws) |
 * | `refuse-permanent` | refuses for good (HTTP 400, SMTP 554, a script returning what is not a response) |
 * | `hang` | takes the message and never answers |
 * | anything else | accepts it |
 *
 * The promises: an attempt ends in an outcome, never a throw, for every failure the receiver or
 * the network can cause, and `error.retryable` tells the dispatcher whether to retry or dead-letter;
 * the idempotency key reaches the receiver, the same on a retry and another for another step;
 * an abort ends a waiting attempt at once, as a retryable failure, and an attempt aborted before
 * it starts sends nothing; calls within `inOrder` arrive in call order; a closed action answers
 * with a failed outcome.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES } from '../../src/core/errors/codes.js';
import { MailsluiceError } from '../../src/core/errors/index.js';
import type { ActionOutcome, DeliveryContext, ScenarioAction } from '../../src/core/ports/scenario-action.js';
import { attributes, deliveryContext } from '../actions/action-fixtures.js';

/** One delivery attempt as the receiver saw it. */
export interface SeenAttempt {
  subject: string;
  /** The idempotency key it carried; null where the technology has no place for one. */
  key: string | null;
}

/** What a factory gives the contract for one test. */
export interface ScenarioActionHarness {
  /** The action, in front of a receiver that answers by Subject (see the module comment). */
  action: ScenarioAction;
  /** Every attempt that reached the receiver so far, in arrival order. */
  seen(): Promise<SeenAttempt[]>;
  /**
   * Whether the receiver sees the idempotency key. False only where the technology carries the
   * message unchanged and has nowhere to put one (forward: the original bytes over SMTP).
   */
  carriesKey: boolean;
  /**
   * Whether the receiver can be told by the Subject to refuse or to hold a message (see the
   * module comment). False for a broker (publish): the broker takes whatever it is given, so
   * the refusal, the hold and the retry tests are skipped here and the adapter's own tests make
   * the broker refuse by its own means (a missing exchange, a full stream, a message too large).
   * Absent: true.
   */
  refusesBySubject?: boolean;
  /**
   * Whether the receiver itself drops a retry under a key it has already taken (a JetStream
   * stream's duplicate window on Nats-Msg-Id): it then holds the retried message once.
   */
  dedupsByKey?: boolean;
  /** An action of the same kind whose receiver is not there (a closed port, a missing module). */
  unreachable(): Promise<ScenarioAction>;
  /** Stops the receiver and closes what the harness made (the action too). */
  cleanup(): Promise<void>;
}

/** A message whose raw bytes and attributes both carry `subject` (a forward reads the bytes, the rest the attributes). */
function delivery(subject: string, ctx: Partial<Omit<DeliveryContext, 'readRaw'>> = {}): [ReturnType<typeof attributes>, DeliveryContext] {
  const raw = Buffer.from(
    ['From: "Alice" <alice@example.test>', 'To: bob@example.test', `Subject: ${subject}`, 'Date: Thu, 01 Jan 2026 00:00:00 +0000', `Message-ID: <${subject}.${Math.random()}@example.test>`, '', 'hello', ''].join('\r\n'),
  );
  return [attributes(subject), deliveryContext(raw, ctx)];
}

/** The error of a failed outcome, checked to be a catalogue error with a sentence. */
function failure(o: ActionOutcome): MailsluiceError {
  assert.equal(o.ok, false, `expected a failed attempt, got ${JSON.stringify(o)}`);
  const error = (o as { ok: false; error: MailsluiceError }).error;
  assert.ok(error instanceof MailsluiceError, `a failure is a MailsluiceError, got ${String(error)}`);
  assert.ok(Object.hasOwn(ERROR_CODES, error.code), `${error.code} is in the catalogue`);
  assert.equal(error.retryable, ERROR_CODES[error.code].retryable, 'retryable as the catalogue says for its code');
  assert.ok(error.message.length > 0);
  return error;
}

/** Resolves once `check` holds, polling, or fails after `ms`. */
async function eventually(check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) assert.fail('the receiver never saw the attempt');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Registers the contract's tests for one adapter; `make` builds a fresh receiver and action per test. */
export function runScenarioActionContract(name: string, make: () => Promise<ScenarioActionHarness>): void {
  const withAction = (title: string, fn: (h: ScenarioActionHarness, t: TestContext) => Promise<void>): void => {
    // A bound, so an adapter that ignores an abort fails the test instead of hanging the run.
    test(`${name}: ${title}`, { timeout: 60_000 }, async (t) => {
      const h = await make();
      try {
        await fn(h, t);
      } finally {
        await h.cleanup();
      }
    });
  };

  withAction('an accepted delivery is { ok: true }, the receiver got it once, a response is a valid one', async (h) => {
    assert.ok(['archive', 'webhook', 'script', 'publish', 'forward'].includes(h.action.kind), h.action.kind);
    if (h.action.inOrder !== undefined) assert.ok(Number.isInteger(h.action.inOrder) && h.action.inOrder >= 1, 'inOrder is a whole number ≥ 1');
    const o = await h.action.run(...delivery('deliver-1'));
    assert.equal(o.ok, true, JSON.stringify(o));
    if (o.ok && o.response) {
      const { addFlags, moveTo, ...rest } = o.response;
      assert.deepEqual(rest, {}, 'a response holds addFlags and moveTo only');
      if (addFlags !== undefined) assert.ok(Array.isArray(addFlags) && addFlags.every((f) => typeof f === 'string'));
      if (moveTo !== undefined) assert.equal(typeof moveTo, 'string');
    }
    assert.deepEqual((await h.seen()).map((s) => s.subject), ['deliver-1']);
  });

  withAction('a refusal for now is a retryable failed outcome, not a throw', async (h, t) => {
    if (h.refusesBySubject === false) return t.skip('the receiver cannot be told to refuse (refusesBySubject: false)');
    const e = failure(await h.action.run(...delivery('refuse-retryable')));
    assert.equal(e.retryable, true, `${e.code}: ${e.message}`);
    assert.deepEqual((await h.seen()).map((s) => s.subject), ['refuse-retryable'], 'the receiver had it');
    // The action is fine afterwards.
    assert.equal((await h.action.run(...delivery('deliver-after'))).ok, true);
  });

  withAction('a refusal for good is a failed outcome that is not retryable', async (h, t) => {
    if (h.refusesBySubject === false) return t.skip('the receiver cannot be told to refuse (refusesBySubject: false)');
    const e = failure(await h.action.run(...delivery('refuse-permanent')));
    assert.equal(e.retryable, false, `${e.code}: ${e.message}`);
  });

  withAction('a receiver that is not there is a failed outcome, not a throw', async (h) => {
    const gone = await h.unreachable();
    try {
      failure(await gone.run(...delivery('deliver-nowhere')));
    } finally {
      await gone.close?.();
    }
  });

  withAction('the idempotency key reaches the receiver: the same on a retry, another for another step', async (h, t) => {
    if (!h.carriesKey) return t.skip('the receiver has no way to see a key (carriesKey: false)');
    if (h.refusesBySubject === false) {
      // A retry of an attempt that reached the receiver: it carries the same key again.
      assert.equal((await h.action.run(...delivery('deliver-first', { idempotencyKey: 'c.r.7.0', attempt: 1 }))).ok, true);
    } else failure(await h.action.run(...delivery('refuse-retryable', { idempotencyKey: 'c.r.7.0', attempt: 1 })));
    assert.equal((await h.action.run(...delivery('deliver-retry', { idempotencyKey: 'c.r.7.0', attempt: 2 }))).ok, true);
    assert.equal((await h.action.run(...delivery('deliver-step', { idempotencyKey: 'c.r.7.1', step: 1 }))).ok, true);
    // A receiver that deduplicates holds the retried message once (it saw the key again and dropped it).
    assert.deepEqual((await h.seen()).map((s) => s.key), h.dedupsByKey ? ['c.r.7.0', 'c.r.7.1'] : ['c.r.7.0', 'c.r.7.0', 'c.r.7.1']);
  });

  withAction('an abort ends an attempt the receiver holds, at once, as a retryable failure', async (h, t) => {
    if (h.refusesBySubject === false) return t.skip('the receiver cannot be told to hold a message (refusesBySubject: false)');
    const ac = new AbortController();
    const pending = h.action.run(...delivery('hang', { signal: ac.signal }));
    await eventually(async () => (await h.seen()).some((s) => s.subject === 'hang'));
    const t0 = Date.now();
    ac.abort();
    const e = failure(await pending);
    assert.equal(e.retryable, true, `${e.code}: ${e.message}`);
    assert.ok(Date.now() - t0 < 3_000, `the abort took ${Date.now() - t0} ms to end the attempt`);
  });

  withAction('an attempt aborted before it starts fails at once, retryable, and sends nothing', async (h) => {
    const ac = new AbortController();
    ac.abort();
    const t0 = Date.now();
    const e = failure(await h.action.run(...delivery('deliver-aborted', { signal: ac.signal })));
    assert.equal(e.retryable, true, `${e.code}: ${e.message}`);
    assert.ok(Date.now() - t0 < 3_000);
    assert.deepEqual(await h.seen(), [], 'nothing reached the receiver');
  });

  withAction('calls within inOrder arrive in the order they were made', async (h, t) => {
    const window = h.action.inOrder ?? 1;
    if (window < 2) return t.skip('the action runs one call at a time (no inOrder window)');
    if (!h.carriesKey) return t.skip('the receiver has no way to see a key (carriesKey: false)');
    const n = Math.min(window, 8);
    const keys = Array.from({ length: n }, (_, i) => `c.r.${i}.0`);
    const outs = await Promise.all(keys.map((k, i) => h.action.run(...delivery(`deliver-${i}`, { idempotencyKey: k }))));
    assert.ok(outs.every((o) => o.ok), JSON.stringify(outs));
    assert.deepEqual((await h.seen()).map((s) => s.key), keys);
  });

  withAction('a closed action answers with a failed outcome, it does not throw', async (h, t) => {
    if (!h.action.close) return t.skip('the action holds nothing to close');
    assert.equal((await h.action.run(...delivery('deliver-before-close'))).ok, true);
    await h.action.close();
    const o = await h.action.run(...delivery('deliver-after-close'));
    failure(o);
  });
}
