/** The rules of encryption at rest (ADR 0033), without I/O: key ids, the keyring document, when a keyring opens the archive. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  RECORDS_PER_DATA_KEY,
  dataKeySpent,
  emptyKeyring,
  isEncryptedDatabase,
  keyIdOfDigest,
  keyringRefusal,
  nextDataKeyId,
  parseKeyring,
  type Keyring,
} from '../../src/core/archive/encryption.js';

const entry = (id: number, kek: string) => ({ id, kek, nonce: 'AAAA', wrapped: 'BBBB', createdAt: '2026-12-06T00:00:00.000Z' });

test('a master key id is the first 8 bytes of its SHA-256, in lower-case hex', () => {
  assert.equal(keyIdOfDigest('ABCDEF0123456789ffff'), 'abcdef0123456789');
});

test('a keyring opens with its own master key only, and an encrypted archive needs a key', () => {
  const ring: Keyring = { format: 1, keys: [entry(7, 'aaaaaaaaaaaaaaaa')] };
  assert.equal(keyringRefusal(ring, 'aaaaaaaaaaaaaaaa'), null);
  assert.match(keyringRefusal(ring, 'bbbbbbbbbbbbbbbb')!, /key id bbbbbbbbbbbbbbbb\) is not the archive's master key \(key id aaaaaaaaaaaaaaaa\)/);
  assert.match(keyringRefusal(ring, null)!, /archive\.encryption is not configured/);
  assert.equal(keyringRefusal(emptyKeyring(), null), null, 'an archive never encrypted opens without a key');
  assert.equal(keyringRefusal(emptyKeyring(), 'bbbbbbbbbbbbbbbb'), null, 'and with one (encryption turned on)');
});

test('the keyring document is checked entry by entry', () => {
  assert.deepEqual(parseKeyring(JSON.stringify({ format: 1, keys: [entry(1, 'k')] })), { format: 1, keys: [entry(1, 'k')] });
  assert.equal(parseKeyring('{'), 'is not JSON');
  assert.equal(parseKeyring(JSON.stringify({ format: 2, keys: [] })), 'is not a keyring of format 1');
  assert.equal(parseKeyring(JSON.stringify({ format: 1, keys: [{ ...entry(0, 'k') }] })), 'holds an entry that is not a wrapped data key');
});

test('data key numbers are never reused, never 0, and a key is spent after RECORDS_PER_DATA_KEY records', () => {
  const ring: Keyring = { format: 1, keys: [entry(5, 'k'), entry(6, 'k')] };
  assert.equal(nextDataKeyId(ring, 5), 7);
  assert.equal(nextDataKeyId(ring, 0), 1);
  assert.equal(nextDataKeyId({ format: 1, keys: [entry(0xffffffff, 'k')] }, 0xffffffff), 1);
  assert.equal(dataKeySpent(RECORDS_PER_DATA_KEY - 1), false);
  assert.equal(dataKeySpent(RECORDS_PER_DATA_KEY), true);
});

test('the databases key (ADR 0035) is checked like a data key, and once it exists encryption cannot be turned off', () => {
  const database = { kek: 'aaaaaaaaaaaaaaaa', nonce: 'AAAA', wrapped: 'BBBB', createdAt: '2026-12-07T00:00:00.000Z' };
  const ring: Keyring = { format: 1, keys: [], database };
  assert.deepEqual(parseKeyring(JSON.stringify(ring)), ring);
  assert.equal(parseKeyring(JSON.stringify({ format: 1, keys: [], database: { kek: 1 } })), 'holds a database key that is not a wrapped key');
  assert.equal(keyringRefusal(ring, 'aaaaaaaaaaaaaaaa'), null);
  assert.match(keyringRefusal(ring, 'bbbbbbbbbbbbbbbb')!, /is not the archive's master key \(key id aaaaaaaaaaaaaaaa\)/);
  assert.match(keyringRefusal(ring, null)!, /databases are encrypted .* \(turning encryption off is not supported/);
});

test('the databases encryption covers: every top-level .db and the migration copies, never the lock', () => {
  for (const p of ['archive.db', 'search.db', 'backups/archive-v3-20261207T000000Z.db']) assert.equal(isEncryptedDatabase(p), true, p);
  for (const p of ['lock.db', 'archive.db-wal', 'blobs/x.db', 'archive-keys.json', 'backups/a/b.db']) assert.equal(isEncryptedDatabase(p), false, p);
});
