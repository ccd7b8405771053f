/**
 * `zipEntries` (ADR 0025): the zip the API's export writes (yazl: stored messages, a compressed
 * manifest, data descriptors) read back from its central directory, in the plain and the zip64
 * form, each stored entry's byte range holding exactly its bytes; what is no zip is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yazl from 'yazl';
import { zipEntries } from '../../src/app/zip-entries.js';

async function writeZip(path: string, files: Array<[string, Buffer]>, zip64: boolean): Promise<void> {
  const z = new yazl.ZipFile();
  for (const [name, bytes] of files) {
    // As the export adds them: a lazy stream of known size, stored.
    z.addReadStreamLazy(name, { compress: false, size: bytes.length, forceZip64Format: zip64 }, (cb) => cb(null, Readable.from([bytes])));
  }
  z.addBuffer(Buffer.from('{"messages":[]}\n'), 'manifest.json', { forceZip64Format: zip64 });
  z.end({ forceZip64Format: zip64, comment: '' });
  const out = createWriteStream(path);
  (z.outputStream as Readable).pipe(out);
  await once(out, 'close');
}

for (const zip64 of [false, true]) {
  test(`the stored entries of an export zip${zip64 ? ' in zip64 form' : ''} are byte ranges holding their bytes; the manifest is said to be compressed`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zip-entries-'));
    try {
      const files: Array<[string, Buffer]> = [
        ['a.eml', Buffer.from('From: a\r\n\r\nfirst\r\n')],
        ['empty.eml', Buffer.alloc(0)],
        ['b.eml', Buffer.from('x'.repeat(70_000))],
      ];
      const path = join(dir, 'e.zip');
      await writeZip(path, files, zip64);
      const fh = await open(path, 'r');
      try {
        const entries = await zipEntries(fh);
        assert.deepEqual(entries.map((e) => [e.name, e.stored]), [...files.map(([n]) => [n, true]), ['manifest.json', false]]);
        for (const [name, bytes] of files) {
          const e = entries.find((x) => x.name === name)!;
          assert.equal(e.size, bytes.length);
          const got = Buffer.alloc(e.size);
          await fh.read(got, 0, e.size, e.start);
          assert.ok(got.equals(bytes), name);
        }
      } finally {
        await fh.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a file that is no zip is refused with a sentence', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zip-entries-'));
  try {
    const path = join(dir, 'x.zip');
    writeFileSync(path, 'not a zip at all');
    const fh = await open(path, 'r');
    try {
      await assert.rejects(zipEntries(fh), /no zip this build can read: no end of central directory/);
    } finally {
      await fh.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
