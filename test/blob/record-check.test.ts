/**
 * A record's check on verify's helper threads (`record-check.ts`) with the decoder kept across
 * records (`record-inflater.ts`, ADR 0031 revision "one decoder a thread"): for every record,
 * intact or damaged in a way its payload CRC does not show (a wrong size, a cut or garbled
 * stream, another hash), the verdict is the one zlib's public functions give, and a damaged
 * record does not spoil the next one's check (a Brotli handle keeps its error across resets).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import { brotliCompressSync, crc32, deflateRawSync } from 'node:zlib';
import type { RecordHeader } from '../../src/adapters/blob-fs/pack-format.js';
import { checkRecord } from '../../src/adapters/blob-fs/record-check.js';
import { RecordInflater } from '../../src/adapters/blob-fs/record-inflater.js';
import { mailLike } from '../contract/blob-store.contract.js';

type Codec = 'brotli' | 'deflate-raw';
const compress = (codec: Codec, raw: Buffer): Buffer => (codec === 'brotli' ? brotliCompressSync(raw) : deflateRawSync(raw));
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A record of `raw`, its header and payload, as a writer makes it; `change` alters them (the payload CRC follows the payload). */
function record(codec: Codec, raw: Buffer, change: (h: RecordHeader, p: Buffer) => { h: RecordHeader; p: Buffer } = (h, p) => ({ h, p })): { h: RecordHeader; p: Buffer } {
  const p0 = compress(codec, raw);
  const { h, p } = change({ codec, rawSize: raw.length, storedSize: p0.length, sha256: sha(raw), payloadCrc: 0 }, p0);
  return { h: { ...h, storedSize: p.length, payloadCrc: crc32(p) >>> 0 }, p };
}

test('record check: the kept decoder gives the public functions\' verdict on intact and damaged records, and a damaged one does not spoil the next', () => {
  const inflater = new RecordInflater();
  try {
    for (const codec of ['brotli', 'deflate-raw'] as const) {
      const raw = mailLike(5_000, 1);
      const other = mailLike(5_000, 2);
      const cases: Array<[string, { h: RecordHeader; p: Buffer }, RegExp | null]> = [
        ['intact', record(codec, raw), null],
        ['one byte shorter than its header says', record(codec, raw, (h, p) => ({ h: { ...h, rawSize: h.rawSize + 1 }, p })), /is 5000 bytes, its header says 5001/],
        ['one byte longer than its header says', record(codec, raw, (h, p) => ({ h: { ...h, rawSize: h.rawSize - 1 }, p })), /is 5000 bytes, its header says 4999/],
        ['cut short', record(codec, raw, (h, p) => ({ h, p: p.subarray(0, p.length - 3) })), /does not decompress|is \d+ bytes/],
        ['garbled mid-stream', record(codec, raw, (h, p) => ({ h, p: Buffer.concat([p.subarray(0, 8), Buffer.alloc(p.length - 8, 0xff)]) })), /does not decompress|is \d+ bytes|hashes to/],
        ['another blob under this address', record(codec, other, (h, p) => ({ h: { ...h, sha256: sha(raw) }, p })), /hashes to [0-9a-f]{64}, not its address/],
        ['empty', record(codec, Buffer.alloc(0)), null],
      ];
      for (const [what, r, expected] of cases) {
        const slow = checkRecord(r.h, r.p, 'ref', undefined);
        const fast = checkRecord(r.h, r.p, 'ref', undefined, inflater);
        assert.equal(fast, slow, `${codec}, ${what}: the same verdict either way`);
        if (expected === null) assert.equal(fast, null, `${codec}, ${what}`);
        else assert.match(fast ?? 'intact', expected, `${codec}, ${what}`);
        // The decoder goes on after a damaged record: the next intact one checks clean through it.
        const good = record(codec, mailLike(3_000, 7));
        assert.equal(checkRecord(good.h, good.p, 'ref', undefined, inflater), null, `${codec}: an intact record after "${what}"`);
        assert.ok(inflater.inflate(codec, good.p, good.h.rawSize)?.equals(mailLike(3_000, 7)), `${codec}: the kept decoder's bytes after "${what}"`);
      }
    }
    // Codecs interleaved through one inflater, records of many sizes (two past the buffer it keeps).
    for (let i = 0; i < 40; i++) {
      const codec: Codec = i % 3 === 0 ? 'deflate-raw' : 'brotli';
      const raw = mailLike(i === 20 || i === 21 ? 3_000_000 + i : 100 + i * 997, i);
      const r = record(codec, raw);
      assert.equal(checkRecord(r.h, r.p, 'ref', undefined, inflater), null, `record ${i}`);
      assert.ok(inflater.inflate(codec, r.p, raw.length)?.equals(raw), `record ${i}'s bytes`);
    }
  } finally {
    inflater.close();
  }
});
