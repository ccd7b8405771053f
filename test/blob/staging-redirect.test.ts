/**
 * The redirect record of a compacted staging pack (staging-redirect.ts): it round-trips, and
 * anything but a whole record of the right pack is STORE_CORRUPT, never a wrong location.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeRedirect, encodeRedirect, type RedirectEntry } from '../../src/adapters/blob-fs/staging-redirect.js';
import { isMailsluiceError } from '../../src/core/errors/index.js';

const entries: RedirectEntry[] = [
  { offset: 16, storedSize: 300_000, sha256: 'ab'.repeat(32), to: { packId: 9, offset: 16, storedSize: 210_000 } },
  { offset: 300_080, storedSize: 1_200_000, sha256: 'cd'.repeat(32), to: { packId: 9, offset: 210_080, storedSize: 900_000 } },
];

test('redirect: round trip by staged offset', () => {
  const table = decodeRedirect(encodeRedirect(7, entries), 7, 'r');
  assert.deepEqual([...table.values()], entries);
  assert.deepEqual(table.get(300_080)?.to, { packId: 9, offset: 210_080, storedSize: 900_000 });
});

test('redirect: a flipped byte, a cut, or another pack\'s record is STORE_CORRUPT', () => {
  const whole = encodeRedirect(7, entries);
  const flipped = Buffer.from(whole);
  flipped[40] = flipped[40]! ^ 1;
  for (const [b, id] of [[flipped, 7], [whole.subarray(0, whole.length - 10), 7], [whole, 8], [Buffer.alloc(0), 7]] as const) {
    assert.throws(() => decodeRedirect(b, id, 'r'), (e) => isMailsluiceError(e, 'STORE_CORRUPT'));
  }
});
