/**
 * The master key's escrow parts (issue 16, item 2; docs/encryption.md), on the real files and the
 * real Shamir library: a key split 3 of 5 comes back whole from every 3, 4 and 5 of its parts;
 * two parts, parts of two keys, the same part twice or an altered part are refused with a
 * sentence naming the problem; the part files are 0600 and never written over a file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { combineKeyParts, keyPartFile, readKeyParts, writeKeyParts } from '../../src/adapters/escrow-shamir/index.js';
import { masterKeyId } from '../../src/adapters/blob-fs/index.js';
import { combineRefusal, splitRefusal } from '../../src/core/archive/key-escrow.js';
import { isMailsluiceError } from '../../src/core/errors/index.js';

/** Every subset of `items` with `k` members. */
function subsets<T>(items: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items as [T, ...T[]];
  return [...subsets(rest, k - 1).map((s) => [first, ...s]), ...subsets(rest, k)];
}

async function refusedWith(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => isMailsluiceError(e, 'KEY_PARTS_INVALID') && pattern.test(e.message));
}

test('a key split 3 of 5 is rebuilt by any 3, 4 or 5 of its parts, and by no 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'key-escrow-'));
  try {
    const key = randomBytes(32);
    const files = await writeKeyParts(key, join(dir, 'master.key'), 5, 3);
    assert.deepEqual(files, [1, 2, 3, 4, 5].map((i) => keyPartFile(join(dir, 'master.key'), i, 5)));
    for (const f of files) assert.equal(statSync(f).mode & 0o777, 0o600, `${f} is 0600`);
    const parts = await readKeyParts(files);
    for (const p of parts) {
      assert.equal(p.part.keyId, masterKeyId(key));
      assert.equal(p.part.threshold, 3);
      assert.equal(p.part.parts, 5);
      // A part alone says nothing of the key: its share is not the key's bytes.
      assert.equal(Buffer.from(p.part.share, 'base64').indexOf(key.subarray(0, 8)), -1);
    }
    for (const k of [3, 4, 5]) {
      for (const some of subsets(parts, k)) {
        const r = await combineKeyParts(some);
        assert.ok(r.key.equals(key), `parts ${some.map((p) => p.part.part).join(',')} rebuild the key`);
        assert.equal(r.keyId, masterKeyId(key));
      }
    }
    for (const two of subsets(parts, 2)) await refusedWith(combineKeyParts(two), /needs 3 of its 5 parts; 2 given/);
    await refusedWith(combineKeyParts([parts[0]!, parts[1]!, parts[0]!]), /are the same part \(1 of 5\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parts of two keys, or of two splits, are refused naming the files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'key-escrow-'));
  try {
    const a = await readKeyParts(await writeKeyParts(randomBytes(32), join(dir, 'a.key'), 3, 2));
    const b = await readKeyParts(await writeKeyParts(randomBytes(32), join(dir, 'b.key'), 3, 2));
    await refusedWith(combineKeyParts([a[0]!, b[1]!]), /the parts are of different keys: .*a\.key\.part-1-of-3 is of key [0-9a-f]{16}, .*b\.key\.part-2-of-3 of key [0-9a-f]{16}/);
    const key = randomBytes(32);
    const s1 = await readKeyParts(await writeKeyParts(key, join(dir, 'c.key'), 3, 2));
    const s2 = await readKeyParts(await writeKeyParts(key, join(dir, 'd.key'), 4, 2));
    await refusedWith(combineKeyParts([s1[0]!, s2[1]!]), /different splits of key/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an altered part is named; a part file in the way stops the split before any is written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'key-escrow-'));
  try {
    const files = await writeKeyParts(randomBytes(32), join(dir, 'k.key'), 3, 2);
    const doc = JSON.parse(readFileSync(files[1]!, 'utf8')) as { share: string };
    const share = Buffer.from(doc.share, 'base64');
    share[0] = share[0]! ^ 1;
    writeFileSync(files[1]!, JSON.stringify({ ...doc, share: share.toString('base64') }));
    await refusedWith(readKeyParts(files), /k\.key\.part-2-of-3 is damaged or altered \(its checksum does not match\)/);
    writeFileSync(files[2]!, 'not a part');
    await refusedWith(readKeyParts([files[2]!]), /is not a key part/);

    // A part already there: the split refuses, and leaves nothing of itself.
    writeFileSync(join(dir, 'x.key.part-3-of-3'), 'in the way');
    await assert.rejects(writeKeyParts(randomBytes(32), join(dir, 'x.key'), 3, 2), (e: unknown) => isMailsluiceError(e, 'CONFIG_INVALID') && /exists already/.test(e.message));
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('x.key')), ['x.key.part-3-of-3']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the split and combine rules: 2 <= K <= N <= 255, at least K distinct parts of one key', () => {
  assert.equal(splitRefusal(5, 3), null);
  assert.match(splitRefusal(1, 1)!, /--parts/);
  assert.match(splitRefusal(256, 3)!, /--parts/);
  assert.match(splitRefusal(3, 4)!, /--threshold/);
  assert.match(splitRefusal(3, 1)!, /--threshold/);
  assert.equal(combineRefusal([]), 'no key parts given');
});
