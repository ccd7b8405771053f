import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWithinSchedule, msUntilOpen } from '../../src/core/connection/schedule.js';
import { backoffDelay } from '../../src/core/connection/backoff.js';

// 2026-11-23 is a Monday.
const at = (iso: string): number => Date.parse(iso);

test('a window inside one day opens and closes in its time zone', () => {
  const s = { timezone: 'Europe/Moscow', windows: [{ days: ['mon' as const], from: '09:00', to: '17:00' }] };
  assert.equal(isWithinSchedule(s, at('2026-11-23T06:00:00Z')), true); // 09:00 MSK
  assert.equal(isWithinSchedule(s, at('2026-11-23T05:59:00Z')), false);
  assert.equal(isWithinSchedule(s, at('2026-11-23T14:00:00Z')), false); // 17:00 MSK: closed
  assert.equal(isWithinSchedule(s, at('2026-11-24T07:00:00Z')), false); // Tuesday
});

test('a window past midnight belongs to the day it opens', () => {
  const s = { timezone: 'UTC', windows: [{ days: ['fri' as const], from: '20:00', to: '06:00' }] };
  assert.equal(isWithinSchedule(s, at('2026-11-27T21:00:00Z')), true); // Friday night
  assert.equal(isWithinSchedule(s, at('2026-11-28T05:00:00Z')), true); // Saturday early
  assert.equal(isWithinSchedule(s, at('2026-11-28T07:00:00Z')), false);
  assert.equal(isWithinSchedule(s, at('2026-11-27T05:00:00Z')), false); // Friday early: Thursday has no window
  assert.equal(msUntilOpen(s, at('2026-11-27T19:00:00Z')), 3600_000);
});

test('any-time is always open', () => {
  assert.equal(isWithinSchedule('any-time', 0), true);
  assert.equal(msUntilOpen('any-time', 0), 0);
});

test('backoff grows, is capped, and is jittered', () => {
  assert.equal(backoffDelay(1, 0), 500);
  assert.equal(backoffDelay(1, 0.999), 1000);
  assert.ok(backoffDelay(4, 0.5) > backoffDelay(2, 0.5));
  assert.ok(backoffDelay(100, 0.999) <= 5 * 60 * 1000);
  assert.notEqual(backoffDelay(3, 0.1), backoffDelay(3, 0.9));
});
