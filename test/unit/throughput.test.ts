/**
 * The throughput of a recent window (issue 15, the dashboard's chart), pure: the window is whole
 * minutes ending with the current one, bounded to a day; the archive reader's buckets are spread
 * over it per connection and in total, zeros where nothing was taken, anything outside ignored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { throughputOf, throughputWindow, THROUGHPUT_MAX_MINUTES } from '../../src/core/stats/throughput.js';

const MIN = 60_000;
const NOW = 1_700_000_000_000 + 25_000; // 25 s into a minute

test('the window: N whole minutes, the last the one now falls in; clamped to 1 … 1440', () => {
  const w = throughputWindow(NOW, 60);
  assert.equal(w.until % MIN, 0);
  assert.ok(w.until > NOW && w.until - NOW <= MIN, 'ends with the current minute');
  assert.equal(w.until - w.since, 60 * MIN);
  assert.deepEqual([w.minutes, w.bucketMs], [60, MIN]);
  assert.equal(throughputWindow(NOW, 0).minutes, 1);
  assert.equal(throughputWindow(NOW, 99_999).minutes, THROUGHPUT_MAX_MINUTES);
  assert.equal(throughputWindow(NOW, 2.9).minutes, 2);
});

test('buckets spread per connection and in total, zeros where none, connections by name, outside ignored', () => {
  const w = throughputWindow(NOW, 3);
  const t = throughputOf(w, [
    { connection: 'zeta', start: w.since + 2 * MIN, messages: 4, bytes: 400 },
    { connection: 'alpha', start: w.since, messages: 1, bytes: 10 },
    { connection: 'alpha', start: w.since + 2 * MIN, messages: 2, bytes: 20 },
    { connection: 'alpha', start: w.since - MIN, messages: 9, bytes: 90 },
    { connection: 'alpha', start: w.until, messages: 9, bytes: 90 },
  ]);
  assert.deepEqual(t.total, { messages: [1, 0, 6], bytes: [10, 0, 420] });
  assert.deepEqual(t.connections, [
    { name: 'alpha', messages: [1, 0, 2], bytes: [10, 0, 20] },
    { name: 'zeta', messages: [0, 0, 4], bytes: [0, 0, 400] },
  ]);
  assert.deepEqual(throughputOf(w, []).total, { messages: [0, 0, 0], bytes: [0, 0, 0] });
});
