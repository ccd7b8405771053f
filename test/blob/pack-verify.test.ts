/**
 * The blob store read back whole (`FsBlobScanner`, pack-verify.ts; ADR 0031) on real packs: every
 * record reported with its hash; a flipped payload byte is that record's problem and the scan goes
 * on; a damaged header in the middle is a stretch up to the next record, which is read; a record
 * cut short at the end is a torn tail; a record over 16 MiB raw is streamed.
 */
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import { createFsBlobStore, FsBlobScanner, parseFsBlobRef } from '../../src/adapters/blob-fs/index.js';
import type { ScannedBlob } from '../../src/core/ports/archive-check.js';
import { chunked, mailLike } from '../contract/blob-store.contract.js';

const never = (): boolean => false;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function flip(path: string, at: number): Promise<void> {
  const fh = await open(path, 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  b[0] = b[0]! ^ 0x5a;
  await fh.write(b, 0, 1, at);
  await fh.close();
}

test('scanner: good records, a flipped payload byte, a damaged header mid-pack, a torn tail, a large streamed record', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mailsluice-scan-test-'));
  try {
    const store = await createFsBlobStore({ directory: dir, stageLargeBodies: false });
    const w = await store.openWriter();
    const bodies = [0, 1, 2, 3, 4].map((i) => mailLike(30_000, i));
    bodies.push(mailLike(20_000_000, 9)); // over the 16 MiB bound: streamed
    const refs: string[] = [];
    for (const b of bodies) refs.push((await w.put(chunked(b), never)).location!.ref);
    await w.sync();
    await w.close();
    const pack = store.packPath(parseFsBlobRef(refs[0]!).packId);

    const scan = async (): Promise<{ seen: ScannedBlob[]; damaged: Array<{ from: number; to: number; tail: boolean }> }> => {
      const seen: ScannedBlob[] = [];
      const totals = await new FsBlobScanner(store).scan((b) => seen.push(b));
      return { seen, damaged: totals.damaged };
    };
    const clean = await scan();
    assert.deepEqual(clean.seen.map((s) => [s.ref, s.sha256, s.problem]), refs.map((r, i) => [r, sha(bodies[i]!), null]));
    assert.deepEqual(clean.damaged, []);

    const r1 = parseFsBlobRef(refs[1]!);
    await flip(pack, r1.offset + 64 + 100);
    const r3 = parseFsBlobRef(refs[3]!);
    await flip(pack, r3.offset + 10); // in the header: no record can be read there
    await appendFile(pack, Buffer.from('MSLR torn'));
    const damaged = await scan();
    const byRef = new Map(damaged.seen.map((s) => [s.ref, s]));
    assert.match(byRef.get(refs[1]!)!.problem!, /payload checksum/);
    assert.equal(byRef.has(refs[3]!), false);
    for (const i of [0, 2, 4, 5]) assert.equal(byRef.get(refs[i]!)?.problem, null, `record ${i}`);
    const r4 = parseFsBlobRef(refs[4]!);
    assert.deepEqual(
      damaged.damaged.map((d) => ({ from: d.from, to: d.to, tail: d.tail })),
      [
        { from: r3.offset, to: r4.offset, tail: false },
        { from: parseFsBlobRef(refs[5]!).offset + 64 + parseFsBlobRef(refs[5]!).storedSize, to: damaged.damaged[1]!.to, tail: true },
      ],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
