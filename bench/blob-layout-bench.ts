/**
 * Measures the candidate layouts and compression codecs for the raw-message store
 * (docs/adr/0001-blob-layout.md records the numbers and the decision).
 *
 * Run: `npx tsc -p tsconfig.json && node dist/bench/blob-layout-bench.js [--batches N] [--dir PATH]`
 *
 * `--store-only` measures only the store as built, as the drain uses it (up to 4 buffered puts in
 * flight, bodies above 256 KiB streamed alone, one sync per 500 messages) and reports the main
 * thread's CPU per message next to the rate, since the main thread bounds the drain
 * (docs/benchmark.md). `--store-module PATH` runs the same against another build of the adapter
 * (e.g. the previous commit's) for an A/B; `--repeat N` repeats each row.
 *
 * Every batch is 500 messages and ends with whatever makes the whole batch durable, because the
 * pipeline commits metadata only after that point: throughput per batch is what bounds the drain rate.
 */
import { seededRandom } from '../test/harness/random.js';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, open, rename, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { createFsBlobStore } from '../src/adapters/blob-fs/index.js';
import type { FsBlobStoreOptions } from '../src/adapters/blob-fs/index.js';
import type { BlobStore } from '../src/core/ports/blob-store.js';
import {
  brotliCompress,
  constants as zc,
  createBrotliCompress,
  createDeflateRaw,
  deflateRaw,
} from 'node:zlib';

const deflateRawAsync = promisify(deflateRaw);
const brotliAsync = promisify(brotliCompress);

const BATCH = 500;

/** A deterministic PRNG so every run measures the same messages. */
const prng = seededRandom;

const WORDS = (
  'the of and to in is that for it as was with be by on not he this are or his from at which but have an they ' +
  'you were her she there been one all we their has would when if so no will can more other its who what about ' +
  'invoice meeting attached please regards quarterly report contract delivery schedule review confirm thanks'
).split(' ');

/**
 * Builds a message that looks like journal mail: headers, a text part, a quoted-printable-ish HTML
 * part, and for large messages a base64 attachment of random bytes (which compresses poorly, as
 * real PDFs/images do).
 */
function makeMessage(rand: () => number, size: number, i: number): Buffer {
  const headers =
    `Received: from mx${i % 7}.example.com (mx.example.com [10.0.${i % 255}.1]) by mail.example.com\r\n` +
    `\twith ESMTPS id ${randomHex(rand, 16)}; Mon, 3 Mar 2025 10:${String(i % 60).padStart(2, '0')}:00 +0000\r\n` +
    `From: "User ${i}" <user${i}@example.com>\r\nTo: team${i % 13}@example.com\r\n` +
    `Subject: Quarterly report ${i}\r\nMessage-ID: <${randomHex(rand, 24)}@example.com>\r\n` +
    `Date: Mon, 3 Mar 2025 10:00:00 +0000\r\nMIME-Version: 1.0\r\n` +
    `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n`;
  const parts: string[] = [headers];
  let len = headers.length;
  const attachment = size > 100_000 ? Math.floor(size * 0.85) : size > 12_000 && rand() < 0.3 ? Math.floor(size * 0.5) : 0;
  const textTarget = size - attachment;
  parts.push(`--b${i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n`);
  while (len < textTarget) {
    let line = '';
    while (line.length < 72) line += WORDS[Math.floor(rand() * WORDS.length)] + ' ';
    parts.push(line + '\r\n');
    len += line.length + 2;
  }
  if (attachment > 0) {
    parts.push(`--b${i}\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n`);
    const b64 = randomBytesFrom(rand, Math.floor((attachment * 3) / 4)).toString('base64');
    for (let p = 0; p < b64.length; p += 76) parts.push(b64.slice(p, p + 76) + '\r\n');
  }
  parts.push(`--b${i}--\r\n`);
  return Buffer.from(parts.join(''), 'latin1');
}

function randomHex(rand: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(rand() * 16).toString(16);
  return s;
}

function randomBytesFrom(rand: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/** "small": 4–30 KB only (the target workload); "mixed": 95 % small, 5 % 200 KB–2 MB. */
function makeBatch(kind: 'small' | 'mixed', seed: number): Buffer[] {
  const rand = prng(seed);
  const out: Buffer[] = [];
  for (let i = 0; i < BATCH; i++) {
    const big = kind === 'mixed' && rand() < 0.05;
    const size = big ? 200_000 + Math.floor(rand() * 1_800_000) : 4_000 + Math.floor(rand() * 26_000);
    out.push(makeMessage(rand, size, i));
  }
  return out;
}

type Codec = { name: string; compress: (b: Buffer) => Promise<Buffer> };

const CODECS: Codec[] = [
  { name: 'none', compress: async (b) => b },
  { name: 'deflateRaw-1', compress: (b) => deflateRawAsync(b, { level: 1 }) },
  { name: 'deflateRaw-3', compress: (b) => deflateRawAsync(b, { level: 3 }) },
  { name: 'deflateRaw-6', compress: (b) => deflateRawAsync(b, { level: 6 }) },
  {
    name: 'brotli-0',
    compress: (b) =>
      brotliAsync(b, {
        params: { [zc.BROTLI_PARAM_QUALITY]: 0, [zc.BROTLI_PARAM_SIZE_HINT]: b.length },
      }),
  },
  {
    name: 'brotli-1',
    compress: (b) =>
      brotliAsync(b, {
        params: { [zc.BROTLI_PARAM_QUALITY]: 1, [zc.BROTLI_PARAM_SIZE_HINT]: b.length },
      }),
  },
];

/** Streaming compression of one message, as a put() of an unknown-length body must do. */
async function compressStream(b: Buffer, codec: 'deflateRaw-1' | 'brotli-1'): Promise<Buffer> {
  const out: Buffer[] = [];
  const z =
    codec === 'brotli-1'
      ? createBrotliCompress({ params: { [zc.BROTLI_PARAM_QUALITY]: 1 } })
      : createDeflateRaw({ level: 1 });
  // 64 KB chunks, as a socket delivers them
  const chunks: Buffer[] = [];
  for (let p = 0; p < b.length; p += 65536) chunks.push(b.subarray(p, p + 65536));
  await pipeline(Readable.from(chunks), z, async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) out.push(c);
  });
  return Buffer.concat(out);
}

interface Row {
  option: string;
  mix: string;
  msgPerS: number;
  rawMBPerS: number;
  ratio?: number;
  mainCpuUsPerMsg?: number;
  eluActiveUsPerMsg?: number;
  elu?: number;
  processCpuUsPerMsg?: number;
}

const rows: Row[] = [];

function record(option: string, mix: string, msgs: number, rawBytes: number, ms: number, ratio?: number): void {
  const row: Row = {
    option,
    mix,
    msgPerS: Math.round((msgs / ms) * 1000),
    rawMBPerS: Math.round((rawBytes / 1e6 / ms) * 1000 * 10) / 10,
    ...(ratio === undefined ? {} : { ratio: Math.round(ratio * 1000) / 1000 }),
  };
  rows.push(row);
  console.log(
    `${option.padEnd(58)} ${mix.padEnd(6)} ${String(row.msgPerS).padStart(7)} msg/s ${String(row.rawMBPerS).padStart(7)} MB/s` +
      (row.ratio === undefined ? '' : `  stored/raw ${row.ratio}`),
  );
}

const sum = (bs: Buffer[]): number => bs.reduce((a, b) => a + b.length, 0);

/** Runs `fn` over `inflight` lanes that each take the next message in turn. */
async function lanes<T>(items: T[], inflight: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i] as T, i);
      }
    }),
  );
}

async function benchCompression(batches: Buffer[][], mix: string): Promise<void> {
  for (const codec of CODECS) {
    for (const inflight of [1, 4]) {
      let raw = 0;
      let stored = 0;
      const t0 = performance.now();
      for (const batch of batches) {
        await lanes(batch, inflight, async (m) => {
          createHash('sha256').update(m).digest();
          const c = await codec.compress(m);
          raw += m.length;
          stored += c.length;
        });
      }
      record(`compress+sha256 ${codec.name} x${inflight} in flight`, mix, batches.length * BATCH, raw, performance.now() - t0, stored / raw);
    }
  }
  for (const codec of ['deflateRaw-1', 'brotli-1'] as const) {
    const t0 = performance.now();
    let raw = 0;
    for (const batch of batches)
      for (const m of batch) {
        await compressStream(m, codec);
        raw += m.length;
      }
    record(`compress ${codec} via stream API x1`, mix, batches.length * BATCH, raw, performance.now() - t0);
  }
}

async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** (a) Append-only pack: each writer appends records to its own file; one fdatasync per batch. */
async function benchPack(root: string, batches: Buffer[][], payloads: Buffer[][], writers: number, mix: string, label: string): Promise<void> {
  const dir = join(root, `pack-${mix}-${label.split(' ')[0]}-${writers}`);
  await mkdir(dir, { recursive: true });
  const t0 = performance.now();
  let raw = 0;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      const fh = await open(join(dir, `pack-${w}`), 'wx');
      await fsyncDir(dir); // the new pack's directory entry, once per pack
      let pos = 0;
      const header = Buffer.alloc(64);
      for (let b = w; b < batches.length; b += writers) {
        const batch = payloads[b] as Buffer[];
        for (let i = 0; i < batch.length; i++) {
          const p = batch[i] as Buffer;
          // header + payload in one write, as a small record would be written
          const { bytesWritten } = await fh.writev([header, p], pos);
          pos += bytesWritten;
          raw += (batches[b] as Buffer[])[i]!.length;
        }
        await fh.datasync();
      }
      await fh.close();
    }),
  );
  record(`(a) pack, ${label}, ${writers} writer(s), 1 fdatasync/batch`, mix, batches.length * BATCH, raw, performance.now() - t0);
}

/** (b) One file per blob: temp + parallel fsyncs + rename + one fsync per touched directory. */
async function benchFiles(root: string, batches: Buffer[][], payloads: Buffer[][], shards: boolean, mix: string, label: string): Promise<void> {
  const dir = join(root, `files-${mix}-${label.split(' ')[0]}-${shards ? 'sharded' : 'flat'}`);
  await mkdir(join(dir, 'tmp'), { recursive: true });
  if (shards) for (let s = 0; s < 256; s++) await mkdir(join(dir, s.toString(16).padStart(2, '0')), { recursive: true });
  const t0 = performance.now();
  let raw = 0;
  let n = 0;
  for (let b = 0; b < batches.length; b++) {
    const batch = payloads[b] as Buffer[];
    const open_: { fh: FileHandle; tmp: string; final: string }[] = [];
    for (let i = 0; i < batch.length; i++) {
      const sha = createHash('sha256').update((batches[b] as Buffer[])[i] as Buffer).update(String(n++)).digest('hex');
      const tmp = join(dir, 'tmp', sha);
      const final = shards ? join(dir, sha.slice(0, 2), sha) : join(dir, sha);
      const fh = await open(tmp, 'wx');
      await fh.write(batch[i] as Buffer);
      open_.push({ fh, tmp, final });
      raw += (batches[b] as Buffer[])[i]!.length;
    }
    // Parallel fsyncs let the block layer merge the flushes.
    await lanes(open_, 64, async (f) => {
      await f.fh.sync();
      await f.fh.close();
    });
    const touched = new Set<string>([join(dir, 'tmp')]);
    for (const f of open_) {
      await rename(f.tmp, f.final);
      touched.add(f.final.slice(0, f.final.lastIndexOf('/')));
    }
    await lanes([...touched], 64, fsyncDir);
  }
  record(`(b) file per blob, ${label}, ${shards ? '256 shard dirs' : 'flat dir'}`, mix, batches.length * BATCH, raw, performance.now() - t0);
}

/** End to end for one writer: sha256 + async deflate + pack append, one fdatasync per batch. */
async function benchEndToEnd(root: string, batches: Buffer[][], mix: string, codec: Codec, writers: number): Promise<void> {
  const dir = join(root, `e2e-${codec.name}-${writers}-${mix}`);
  await mkdir(dir, { recursive: true });
  const t0 = performance.now();
  let raw = 0;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      const fh = await open(join(dir, `pack-${w}`), 'wx');
      await fsyncDir(dir);
      let pos = 0;
      const header = Buffer.alloc(64);
      for (let b = w; b < batches.length; b += writers) {
        for (const m of batches[b] as Buffer[]) {
          createHash('sha256').update(m).digest();
          const c = await codec.compress(m);
          const { bytesWritten } = await fh.writev([header, c], pos);
          pos += bytesWritten;
          raw += m.length;
        }
        await fh.datasync();
      }
      await fh.close();
    }),
  );
  record(`(a) end to end sha256+${codec.name}+pack, ${writers} writer(s)`, mix, batches.length * BATCH, raw, performance.now() - t0);
}

async function* oneChunk(b: Buffer): AsyncGenerator<Uint8Array> {
  yield b;
}

/** The implementation as built (src/adapters/blob-fs): puts per writer, one sync per batch. */
async function benchStore(root: string, batches: Buffer[][], mix: string, writers: number, inflight: number): Promise<void> {
  const store = await createFsBlobStore({ directory: join(root, `store-${mix}-${writers}-${inflight}`) });
  const t0 = performance.now();
  let raw = 0;
  let stored = 0;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      const writer = await store.openWriter();
      for (let b = w; b < batches.length; b += writers) {
        await lanes(batches[b] as Buffer[], inflight, async (m, i) => {
          // a per-writer byte makes every message unique, so dedup does not flatter the numbers
          const body = Buffer.concat([m, Buffer.from(`${w}/${b}/${i}`)]);
          const r = await writer.put(oneChunk(body), () => false);
          raw += body.length;
          stored += r.location?.storedSize ?? 0;
        });
        await writer.sync();
      }
      await writer.close();
    }),
  );
  record(`FsBlobStore (brotli-1), ${writers} writer(s), ${inflight} put(s) in flight each`, mix, batches.length * BATCH, raw, performance.now() - t0, stored / raw);
}

/** CPU time of the main thread alone (Linux /proc; 10 ms ticks), in µs. */
function mainThreadCpuUs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10_000;
  } catch {
    return NaN;
  }
}

async function* chunksOf(b: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let p = 0; p < b.length; p += size) yield b.subarray(p, p + size);
}

type StoreFactory = (options: FsBlobStoreOptions) => Promise<BlobStore>;

/**
 * The store as the drain uses it: buffered bodies (≤ 256 KiB, one chunk, as the IMAP source
 * delivers them) with up to 4 puts in flight, larger bodies streamed in 64 KiB chunks after
 * the in-flight puts settle, and sync every 500 messages. Bodies are made unique and built
 * before the clock starts, so only the store's work is measured.
 */
async function benchDrainLike(
  root: string,
  batches: Buffer[][],
  mix: string,
  label: string,
  make: StoreFactory,
  options: Omit<FsBlobStoreOptions, 'directory'>,
  maxInflight = 4,
): Promise<void> {
  const dir = join(root, `drainlike-${mix}-${rows.length}`);
  const store = await make({ directory: dir, ...options });
  const bodies = batches.map((batch, b) => batch.map((m, i) => Buffer.concat([m, Buffer.from(`${b}/${i}`)])));
  const writer = await store.openWriter();
  // warm up (worker start, first pack) outside the clock
  await writer.put(oneChunk(Buffer.from(`warm-up ${label}`)), () => false);
  await writer.sync();
  globalThis.gc?.();
  let raw = 0;
  let stored = 0;
  const cpu0 = mainThreadCpuUs();
  const proc0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  for (const batch of bodies) {
    const inflight = new Set<Promise<void>>();
    for (const body of batch) {
      raw += body.length;
      if (body.length > 256 * 1024) {
        await Promise.all(inflight);
        const r = await writer.put(chunksOf(body, 65536), () => false);
        stored += r.location?.storedSize ?? 0;
        continue;
      }
      const p: Promise<void> = writer.put(oneChunk(body), () => false).then((r) => {
        stored += r.location?.storedSize ?? 0;
        inflight.delete(p);
      });
      inflight.add(p);
      if (inflight.size >= maxInflight) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    await writer.sync();
  }
  const ms = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  const proc = process.cpuUsage(proc0);
  const mainUs = mainThreadCpuUs() - cpu0;
  await writer.close();
  const n = bodies.length * BATCH;
  record(`drain-like, ${label}`, mix, n, raw, ms, stored / raw);
  const extra = {
    mainCpuUsPerMsg: Math.round(mainUs / n),
    eluActiveUsPerMsg: Math.round((elu.active * 1000) / n),
    elu: Math.round(elu.utilization * 100) / 100,
    processCpuUsPerMsg: Math.round((proc.user + proc.system) / n),
  };
  Object.assign(rows[rows.length - 1] as Row, extra);
  console.log(
    `${''.padEnd(58)}        main thread ${extra.mainCpuUsPerMsg} µs/msg (ELU active ${extra.eluActiveUsPerMsg} µs/msg, ${extra.elu}), process ${extra.processCpuUsPerMsg} µs/msg`,
  );
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const storeOnly = args.includes('--store-only');
  const nBatchesArg = args.includes('--batches') ? Number(args[args.indexOf('--batches') + 1]) : NaN;
  const nBatches = Number.isInteger(nBatchesArg) && nBatchesArg > 0 ? nBatchesArg : 4;
  const inflight = args.includes('--inflight') ? Number(args[args.indexOf('--inflight') + 1]) || 4 : 4;
  const repeat = args.includes('--repeat') ? Number(args[args.indexOf('--repeat') + 1]) || 1 : 1;
  const storeModule = args.includes('--store-module') ? (args[args.indexOf('--store-module') + 1] as string) : null;
  const make: StoreFactory = storeModule
    ? ((await import(new URL(storeModule, `file://${process.cwd()}/`).href)) as { createFsBlobStore: StoreFactory }).createFsBlobStore
    : createFsBlobStore;
  const base = args.includes('--dir') ? (args[args.indexOf('--dir') + 1] as string) : tmpdir();
  const root = await mkdtemp(join(base, 'mailsluice-blob-bench-'));
  console.log(`node ${process.version}, UV_THREADPOOL_SIZE=${process.env['UV_THREADPOOL_SIZE'] ?? '4 (default)'}, dir ${root}`);
  console.log(`${nBatches} batches of ${BATCH} messages per option\n`);
  try {
    for (const mix of ['small', 'mixed'] as const) {
      const batches = Array.from({ length: nBatches }, (_, i) => makeBatch(mix, 1000 + i));
      const total = batches.reduce((a, b) => a + sum(b), 0);
      console.log(`--- mix ${mix}: ${(total / 1e6).toFixed(1)} MB raw, mean ${(total / nBatches / BATCH / 1024).toFixed(1)} KB/message`);
      if (storeOnly) {
        // small messages: more of them, so the 10 ms CPU ticks resolve a few µs per message
        const set = mix === 'small' && !Number.isInteger(nBatchesArg) ? Array.from({ length: 10 }, (_, i) => makeBatch(mix, 1000 + i)) : batches;
        const variants: [string, Omit<FsBlobStoreOptions, 'directory'>][] = storeModule
          ? [[`store from ${storeModule}`, {}]]
          : [
              ['default (1 compression thread)', {}],
              ['compressionThreads 0 (inline)', { compressionThreads: 0 }],
              ['compressionThreads 2', { compressionThreads: 2 }],
            ];
        for (let r = 0; r < repeat; r++) for (const [label, options] of variants) await benchDrainLike(root, set, mix, `${label}, ${inflight} in flight`, make, options, inflight);
        if (!args.includes('--drain-like-only')) for (const [writers, inflight] of [[1, 1], [1, 4], [2, 1], [2, 4]] as const) await benchStore(root, batches, mix, writers, inflight);
        continue;
      }
      await benchCompression(batches, mix);
      const deflated = await Promise.all(batches.map((b) => Promise.all(b.map((m) => deflateRawAsync(m, { level: 1 })))));
      const incompressible = batches.map((b) => b.map((m) => randomBytes(m.length)));
      for (const [label, payloads] of [
        ['deflated-1 payloads', deflated],
        ['uncompressed payloads', incompressible],
      ] as const) {
        await benchPack(root, batches, payloads, 1, mix, label);
        await benchPack(root, batches, payloads, 2, mix, label);
        await benchFiles(root, batches, payloads, false, mix, label);
        await benchFiles(root, batches, payloads, true, mix, label);
      }
      for (const [writers, inflight] of [[1, 1], [1, 4], [2, 1], [2, 4]] as const) await benchStore(root, batches, mix, writers, inflight);
      for (const codec of CODECS.filter((c) => ['none', 'deflateRaw-1', 'brotli-0', 'brotli-1'].includes(c.name))) {
        await benchEndToEnd(root, batches, mix, codec, 1);
        await benchEndToEnd(root, batches, mix, codec, 2);
      }
      console.log('');
    }
    if (args.includes('--json')) console.log(JSON.stringify(rows, null, 2));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
