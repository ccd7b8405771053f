/**
 * UID sequence sets: compressed into ranges, and split so that no command line grows past what a
 * server accepts however scattered the UIDs are.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toSequenceSet, toSequenceSets } from '../../src/adapters/source-imap/index.js';

/** Every UID a sequence set names. */
function expand(set: string): number[] {
  return set.split(',').flatMap((part) => {
    const [a, b] = part.split(':').map(Number);
    return b === undefined ? [a!] : Array.from({ length: b - a! + 1 }, (_, i) => a! + i);
  });
}

test('toSequenceSet: ranges in ascending order, whatever order the UIDs came in', () => {
  assert.equal(toSequenceSet([9, 1, 2, 3, 5, 10, 11, 12]), '1:3,5,9:12');
  assert.equal(toSequenceSet([7]), '7');
  assert.equal(toSequenceSet([]), '');
});

test('toSequenceSets: a contiguous run stays one set', () => {
  assert.deepEqual(toSequenceSets(Array.from({ length: 5000 }, (_, i) => i + 1), 20), ['1:5000']);
});

test('toSequenceSets: scattered UIDs are split into sets no longer than the limit, covering each UID once, in order', () => {
  const uids = Array.from({ length: 3000 }, (_, i) => 1_000_000 + 2 * i);
  const sets = toSequenceSets(uids, 7000);
  assert.ok(sets.length >= 3, `${sets.length} sets`);
  for (const s of sets) assert.ok(s.length <= 7000, `a set of ${s.length} characters`);
  assert.deepEqual(sets.flatMap(expand), uids);
});

test('toSequenceSets: the default limit keeps a UID STORE line within 8,192 octets', () => {
  const uids = Array.from({ length: 5000 }, (_, i) => 4_000_000_000 - 3 * i);
  for (const s of toSequenceSets(uids)) assert.ok(Buffer.byteLength(`A123456 UID STORE ${s} +FLAGS.SILENT (\\Deleted)\r\n`) <= 8192);
  assert.deepEqual(toSequenceSets([]), []);
});
