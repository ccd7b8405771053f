/**
 * The parser worker's Blob replacement (src/adapters/parser-postal-mime/worker-blob.ts):
 * - byte-for-byte the same as Node's Blob for every kind of part and option;
 * - a tripwire on postal-mime's decoder sources, so an upgrade that changes how it uses Blob
 *   fails here and sends the reader to worker-blob.ts;
 * - the whole shared corpus parsed with the native Blob (in-process, main thread) and with the
 *   replacement (in-process with the global swapped for the call, and in the worker pool) must
 *   give identical outcomes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Blob as NativeBlob } from 'node:buffer';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { EOL } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JoinedBlob, installWorkerBlob } from '../../src/adapters/parser-postal-mime/worker-blob.js';
import { createPostalMimeParser, parseToOutcome } from '../../src/adapters/parser-postal-mime/index.js';
import { DEFAULT_PARSE_LIMITS } from '../../src/core/message/limits.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const corpusRoot = path.resolve(repoRoot, '..', 'shared', 'corpus');

type AnyBlob = { size: number; type: string; arrayBuffer(): Promise<ArrayBuffer>; text(): Promise<string>; slice(a?: number, b?: number, t?: string): AnyBlob; stream(): ReadableStream<Uint8Array> };
type Ctor = new (parts?: Iterable<unknown>, options?: object | null) => AnyBlob;
const Native = NativeBlob as unknown as Ctor;
const Joined = JoinedBlob as unknown as Ctor;

async function streamBytes(s: ReadableStream<Uint8Array>): Promise<Buffer> {
  const out: Uint8Array[] = [];
  for await (const c of s as unknown as AsyncIterable<Uint8Array>) out.push(c);
  return Buffer.concat(out);
}

/** `parts` is called once per class, so a nested Blob part is of the class under test. */
async function same(parts: (C: Ctor) => unknown[], options?: object | null): Promise<void> {
  const n = new Native(parts(Native), options);
  const j = new Joined(parts(Joined), options);
  const what = `parts ${JSON.stringify(parts(Joined), (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))} options ${JSON.stringify(options)}`;
  assert.equal(j.size, n.size, what);
  assert.equal(j.type, n.type, what);
  assert.deepEqual(Buffer.from(await j.arrayBuffer()), Buffer.from(await n.arrayBuffer()), what);
  assert.equal(await j.text(), await n.text(), what);
  assert.deepEqual(await streamBytes(j.stream()), await streamBytes(n.stream()), what);
  for (const [a, b, t] of [[undefined, undefined, undefined], [1, undefined, 'X/Y'], [-3, undefined, undefined], [2, -1, 'text/plain'], [5, 2, undefined], [-100, 100, undefined]] as const) {
    const sj = j.slice(a, b, t);
    const sn = n.slice(a, b, t);
    assert.equal(sj.size, sn.size, `${what} slice(${a},${b})`);
    assert.equal(sj.type, sn.type, `${what} slice(${a},${b})`);
    assert.deepEqual(Buffer.from(await sj.arrayBuffer()), Buffer.from(await sn.arrayBuffer()), `${what} slice(${a},${b})`);
  }
}

test('JoinedBlob gives the same bytes, size, type, text, slices and stream as the native Blob', async () => {
  const buf = new Uint8Array([0, 1, 2, 200, 255, 10, 13]);
  await same(() => []);
  await same(() => ['']);
  await same(() => ['line one', '\n', 'Grüße €', '\n', '\r\n']);
  await same(() => ['lone \ud800 surrogate', '\udc00', '😀']);
  await same(() => [buf, buf.subarray(2, 5), buf.buffer, new DataView(buf.buffer, 1, 3), new Uint16Array([0x4142, 0xffff])]);
  await same(() => [new Float64Array([Math.PI]).subarray(0, 1), new Uint8Array(new SharedArrayBuffer(4)).fill(7)]);
  await same(() => [42, null, undefined, { toString: () => 'obj' }, true, [1, 2]]);
  await same((C) => [new C(['inner ', buf]), 'outer', new C([new C(['deep'])]).slice(1)]);
  // Node before 24 left a lone CR alone under endings: 'native'; the File API (and JoinedBlob)
  // converts it too. Compared with the native Blob where that follows the spec, else with it.
  if ((await new NativeBlob(['\r'], { endings: 'native' }).text()) === EOL) await same(() => ['a\nb\r\nc\rd'], { endings: 'native' });
  else assert.equal(await new JoinedBlob(['a\nb\r\nc\rd'], { endings: 'native' }).text(), `a${EOL}b${EOL}c${EOL}d`);
  await same(() => ['a\nb\r\nc'], { endings: 'native' });
  await same(() => ['a\nb\r\nc', buf], { endings: 'transparent' });
  for (const type of ['application/octet-stream', 'Text/HTML; Charset=UTF-8', 'bad\u00e9', 'tab\there', '', 'x\u007fy']) await same(() => ['x'], { type });
  await same(() => ['x'], null);
  await same(() => ['x'], { type: null });
  await same(() => new Set(['from a set', '\n']) as unknown as unknown[]);
});

test('JoinedBlob rejects what the native Blob rejects', () => {
  for (const [parts, options] of [['a string'], [null], [42], [{}], [[], 'options'], [[], { endings: 'weird' }], [[Symbol('s')]]] as Array<[unknown, unknown]>) {
    assert.throws(() => new Native(parts as unknown[], options as object), TypeError, `native #${JSON.stringify(options)}`);
    assert.throws(() => new Joined(parts as unknown[], options as object), TypeError, `joined #${JSON.stringify(options)}`);
  }
});

test('JoinedBlob snapshots its parts and hands out a fresh buffer on every read', async () => {
  const src = new Uint8Array([1, 2, 3]);
  const b = new JoinedBlob([src, src.buffer]);
  src[0] = 99;
  const first = await b.arrayBuffer();
  assert.deepEqual([...new Uint8Array(first)], [1, 2, 3, 1, 2, 3]);
  new Uint8Array(first).fill(0);
  const second = await b.arrayBuffer();
  assert.notEqual(first, second);
  assert.deepEqual([...new Uint8Array(second)], [1, 2, 3, 1, 2, 3]);
});

test('instanceof and the toString tag stay sane for postal-mime isBlob()', async () => {
  const joined = new JoinedBlob(['x']);
  const native = new NativeBlob(['x']);
  assert.equal(Object.prototype.toString.call(joined), '[object Blob]');
  assert.ok(joined instanceof JoinedBlob);
  assert.ok((native as unknown) instanceof JoinedBlob, 'a native Blob is still a Blob');
  for (const notBlob of [new Uint8Array(3), Buffer.from('x'), new ArrayBuffer(2), 'x', null, {}, { arrayBuffer: () => 1 }]) {
    assert.equal((notBlob as unknown) instanceof JoinedBlob, false, String(notBlob));
  }
  // A native Blob part cannot be read synchronously: the native class takes that one over.
  const mixed = new Joined(['a', native, joined, new Uint8Array([66])]);
  assert.ok(mixed instanceof NativeBlob);
  assert.equal(await mixed.text(), 'axxB');
  assert.ok('arrayBuffer' in joined, "postal-mime's blobToArrayBuffer takes the arrayBuffer() branch");
});

test('installWorkerBlob refuses the main thread', () => {
  assert.throws(() => installWorkerBlob(), /only for the parser worker thread/);
  assert.equal(globalThis.Blob, NativeBlob as unknown, 'the main thread keeps the native Blob');
});

test('tripwire: postal-mime still uses Blob only as worker-blob.ts assumes', () => {
  // If this fails after a postal-mime upgrade, re-read the decoders and decode-strings.js,
  // check the assumptions listed in worker-blob.ts, and update them and this test together.
  const require = createRequire(import.meta.url);
  const pkgDir = path.dirname(require.resolve('postal-mime/package.json'));
  const esm = path.join(pkgDir, 'dist', 'esm');
  const src = (f: string): string => readFileSync(path.join(esm, f), 'utf8');
  const join = "blobToArrayBuffer(new Blob(this.chunks, { type: 'application/octet-stream' }))";
  for (const f of ['pass-through-decoder.js', 'base64-decoder.js', 'qp-decoder.js']) assert.ok(src(f).includes(join), `${f} no longer joins its chunks through Blob as assumed`);
  assert.match(src('pass-through-decoder.js'), /this\.chunks\.push\(line\);\s*this\.chunks\.push\('\\n'\);/, 'pass-through pushes line views and "\\n"');
  assert.match(src('base64-decoder.js'), /this\.chunks\.push\(decodeBase64\(base64Str\)\)/, 'base64 pushes ArrayBuffers');
  assert.match(src('qp-decoder.js'), /this\.chunks\.push\(this\.buffer\.slice\(0, this\.bufferPos\)\)/, 'QP pushes Uint8Array copies');
  assert.match(src('decode-strings.js'), /if \('arrayBuffer' in blob\) \{\s*return await blob\.arrayBuffer\(\);/, 'blobToArrayBuffer reads back with arrayBuffer()');
  assert.match(src('postal-mime.js'), /value instanceof Blob \|\| Object\.prototype\.toString\.call\(value\) === '\[object Blob\]'/, 'isBlob as assumed');
  // No other use of the Blob constructor anywhere in postal-mime.
  const users = readdirSync(esm).filter((f) => f.endsWith('.js') && /new Blob\(/.test(src(f)));
  assert.deepEqual(users.sort(), ['base64-decoder.js', 'pass-through-decoder.js', 'qp-decoder.js']);
});

test('the whole corpus parses identically with the native Blob and with JoinedBlob (in-process and in the worker pool)', { timeout: 600_000 }, async () => {
  const manifestPath = path.join(corpusRoot, 'manifest.json');
  assert.ok(existsSync(manifestPath), `corpus missing: expected ${manifestPath}`);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { items: Array<{ id: string; file: string }> };
  assert.equal(manifest.items.length, 1799);
  assert.equal(globalThis.Blob, NativeBlob as unknown, 'in-process parses must use the native Blob');
  const parser = createPostalMimeParser({ workers: 2 });
  let differ = 0;
  const diffs: string[] = [];
  try {
    // Chunks keep the pool busy without holding the whole corpus in flight.
    for (let i = 0; i < manifest.items.length; i += 64) {
      const chunk = manifest.items.slice(i, i + 64).map((item) => ({ item, raw: readFileSync(path.join(corpusRoot, item.file)) }));
      const viaWorker = await Promise.all(chunk.map(({ raw }) => parser.parse(raw)));
      for (const [k, { item, raw }] of chunk.entries()) {
        const inProcess = await parseToOutcome(new Uint8Array(raw), DEFAULT_PARSE_LIMITS);
        // The same in-process parse with JoinedBlob as the global Blob, for certain (the
        // worker's install is not observable from here), then the native one back.
        Object.defineProperty(globalThis, 'Blob', { value: JoinedBlob, writable: true, configurable: true });
        let joined: Awaited<ReturnType<typeof parseToOutcome>>;
        try {
          joined = await parseToOutcome(new Uint8Array(raw), DEFAULT_PARSE_LIMITS);
        } finally {
          Object.defineProperty(globalThis, 'Blob', { value: NativeBlob, writable: true, configurable: true });
        }
        const worker = viaWorker[k];
        try {
          assert.deepStrictEqual(joined, inProcess);
          // Timeouts are load-dependent, not a difference in parsing.
          if (!(worker && !worker.ok && worker.code === 'PARSE_TIMEOUT')) assert.deepStrictEqual(worker, inProcess);
        } catch {
          differ++;
          if (diffs.length < 10) diffs.push(`${item.id} (${item.file})`);
        }
      }
    }
  } finally {
    await parser.close();
  }
  assert.equal(differ, 0, `outcomes differ between native Blob and JoinedBlob: ${diffs.join(', ')}`);
});
