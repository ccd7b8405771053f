/**
 * PartialTransfers (ADR 0015): what a connection runner remembers across sessions about broken-off
 * transfers: kept bytes, strikes against a message, set-aside, and what counts as progress.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PartialTransfers } from '../../src/core/archive/partial-transfer.js';

const bytes = (n: number): Uint8Array => new Uint8Array(n).fill(7);

test('three sessions in a row broken during one message with no progress set it aside; once', () => {
  const t = new PartialTransfers({ setAsideAfter: 3, maxKeptBytes: 1000 });
  for (let i = 1; i <= 2; i++) {
    t.interrupted('k', 5000);
    assert.deepEqual(t.sessionEnded(true), { progressed: false, setAside: [] }, `session ${i}`);
  }
  t.interrupted('k', 5000);
  const out = t.sessionEnded(true);
  assert.deepEqual(out.setAside, [{ key: 'k', sessions: 3, bytesKept: 0 }]);
  assert.ok(t.isSetAside('k'));
  t.interrupted('k');
  assert.deepEqual(t.sessionEnded(true).setAside, [], 'not set aside twice');
  assert.equal(t.setAside().length, 1);
});

test('kept bytes and commits are progress: they clear the strikes', () => {
  const t = new PartialTransfers({ setAsideAfter: 2, maxKeptBytes: 1000 });
  t.interrupted('k');
  assert.equal(t.sessionEnded(true).progressed, false);
  assert.ok(t.keep('k', bytes(10)));
  t.interrupted('k');
  assert.deepEqual(t.sessionEnded(true), { progressed: true, setAside: [] });
  t.interrupted('k');
  assert.deepEqual(t.sessionEnded(true).setAside, [], 'strikes started over after the progress');
  t.committed(100);
  t.interrupted('k');
  assert.equal(t.sessionEnded(true).progressed, true);
  assert.equal(t.isSetAside('k'), false);
  assert.deepEqual(t.resumable('k'), { parts: [bytes(10)], bytes: 10 });
});

test('a message no larger than one the link carried whole gets no strike', () => {
  const t = new PartialTransfers({ setAsideAfter: 1, maxKeptBytes: 1000 });
  t.committed(300_000);
  t.sessionEnded(false);
  t.interrupted('small', 100_000);
  assert.deepEqual(t.sessionEnded(true).setAside, []);
  t.interrupted('big', 2_000_000);
  assert.equal(t.sessionEnded(true).setAside[0]?.key, 'big');
});

test('a session that did not fail, or failed elsewhere, counts no strike', () => {
  const t = new PartialTransfers({ setAsideAfter: 1, maxKeptBytes: 1000 });
  t.interrupted('k');
  assert.deepEqual(t.sessionEnded(false).setAside, []);
  assert.deepEqual(t.sessionEnded(true).setAside, [], 'failed without naming a message');
});

test('over maxKeptBytes a message is not kept at all; forget drops it', () => {
  const t = new PartialTransfers({ setAsideAfter: 3, maxKeptBytes: 15 });
  assert.ok(t.keep('k', bytes(10)));
  assert.equal(t.keep('k', bytes(10)), false);
  assert.equal(t.resumable('k'), undefined);
  assert.ok(t.keep('j', bytes(5)));
  t.forget('j');
  assert.equal(t.resumable('j'), undefined);
});

test('the bound is over all messages: older records are dropped to keep a newer one', () => {
  const t = new PartialTransfers({ setAsideAfter: 3, maxKeptBytes: 20 });
  assert.ok(t.keep('old', bytes(12)));
  assert.ok(t.keep('new', bytes(6)));
  assert.ok(t.keep('new', bytes(6)));
  assert.equal(t.resumable('old'), undefined, 'the oldest record made room');
  assert.equal(t.resumable('new')?.bytes, 12);
});
