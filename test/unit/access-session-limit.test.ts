/**
 * The console's session table and the sign-in limiter (issue 14, "Access control"; ADR 0028),
 * pure, on a hand-driven clock: idle expiry, the bound on sessions, revocation by token, the
 * constant-time comparison; failures per address in a sliding minute and the Retry-After.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constantTimeEqual, LoginLimiter, SessionTable } from '../../src/core/access/index.js';

function clockAt(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

function counter(): () => string {
  let n = 0;
  return () => `id${++n}`;
}

test('a session is found by its id until it has been idle 12 hours; use keeps it open; signing out ends it', () => {
  const clock = clockAt();
  const table = new SessionTable(clock, counter());
  const s = table.open({ name: 'ops', role: 'admin' }, 'h1');
  assert.notEqual(s.id, s.csrfToken, 'the CSRF token is its own secret, not the id');
  assert.equal(table.expiresAt(s), clock.now() + 12 * 3600_000);
  clock.advance(11 * 3600_000);
  assert.equal(table.find(s.id)?.principal.name, 'ops', 'used after 11 h');
  clock.advance(11 * 3600_000);
  assert.equal(table.find(s.id)?.principal.role, 'admin', '11 h after its last use: still open');
  clock.advance(12 * 3600_000);
  assert.equal(table.find(s.id), null, '12 h idle: ended');
  const t = table.open({ name: 'ops', role: 'admin' }, 'h1');
  assert.equal(table.close(t.id), true);
  assert.equal(table.find(t.id), null);
  assert.equal(table.close(t.id), false);
  assert.equal(table.find('never-made'), null);
});

test('revoking a token ends every session opened with it, and no other', () => {
  const table = new SessionTable(clockAt(), counter());
  const a = table.open({ name: 'ops', role: 'viewer' }, 'hash-ops');
  const b = table.open({ name: 'ops', role: 'viewer' }, 'hash-ops');
  const c = table.open({ name: 'legal', role: 'auditor' }, 'hash-legal');
  assert.equal(table.closeForToken('hash-ops'), 2);
  assert.deepEqual([table.find(a.id), table.find(b.id), table.find(c.id)?.principal.name], [null, null, 'legal']);
});

test('the table holds at most maxSessions: one more ends the least recently used; idle ones are swept on open', () => {
  const clock = clockAt();
  const table = new SessionTable(clock, counter(), { idleMs: 1000, maxSessions: 3 });
  const [a, b, c] = [0, 1, 2].map(() => table.open({ name: 'x', role: 'viewer' }, 'h'));
  table.find(a!.id); // a is now the most recently used
  const d = table.open({ name: 'x', role: 'viewer' }, 'h');
  assert.equal(table.size, 3);
  assert.equal(table.find(b!.id), null, 'b was the least recently used');
  assert.ok(table.find(a!.id) && table.find(c!.id) && table.find(d.id));
  clock.advance(1000);
  table.open({ name: 'x', role: 'viewer' }, 'h');
  assert.equal(table.size, 1, 'the idle ones were swept');
});

test('constantTimeEqual: equal strings only', () => {
  assert.equal(constantTimeEqual('abc', 'abc'), true);
  assert.equal(constantTimeEqual('abc', 'abd'), false);
  assert.equal(constantTimeEqual('abc', 'ab'), false);
  assert.equal(constantTimeEqual('', ''), true);
});

test('the limiter admits 10 failures a minute per address, then refuses until the oldest is a minute old', () => {
  const clock = clockAt();
  const limiter = new LoginLimiter(clock);
  for (let i = 0; i < 10; i++) {
    assert.deepEqual(limiter.check('10.0.0.1'), { allowed: true }, `attempt ${i + 1}`);
    limiter.fail('10.0.0.1');
    clock.advance(1000);
  }
  // 10 failures at t0 … t0+9 s; now t0+10 s: refused until t0+60 s.
  assert.deepEqual(limiter.check('10.0.0.1'), { allowed: false, retryAfterMs: 50_000 });
  assert.deepEqual(limiter.check('10.0.0.2'), { allowed: true }, 'another address is not affected');
  clock.advance(49_999);
  assert.equal(limiter.check('10.0.0.1').allowed, false);
  clock.advance(1);
  assert.deepEqual(limiter.check('10.0.0.1'), { allowed: true }, 'the first failure left the window');
  limiter.fail('10.0.0.1');
  assert.deepEqual(limiter.check('10.0.0.1'), { allowed: false, retryAfterMs: 1000 }, 'the window slides: the second failure (t0+1 s) leaves it next');
  clock.advance(120_000);
  assert.deepEqual(limiter.check('10.0.0.1'), { allowed: true });
  assert.equal(limiter.size, 0, 'an address with no failure left in the window is forgotten');
});

test('the limiter remembers at most maxAddresses, forgetting the one that failed longest ago', () => {
  const clock = clockAt();
  const limiter = new LoginLimiter(clock, { maxFailures: 1, windowMs: 60_000, maxAddresses: 2 });
  limiter.fail('a');
  limiter.fail('b');
  limiter.fail('c');
  assert.equal(limiter.size, 2);
  assert.deepEqual(limiter.check('a'), { allowed: true });
  assert.equal(limiter.check('b').allowed, false);
  assert.equal(limiter.check('c').allowed, false);
});
