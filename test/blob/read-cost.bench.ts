/**
 * Main-thread cost of FsBlobStore.read: puts N small journal messages, then reads them all back
 * with `concurrency` reads in flight (like the index stage) and reports µs of main-thread time
 * (event-loop active time) and of process CPU per read.
 *
 *   node dist/test/blob/read-cost.bench.js [--n 5000] [--concurrency 8] [--rounds 3] [--threads 1]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createFsBlobStore } from '../../src/adapters/blob-fs/index.js';
import type { BlobLocation } from '../../src/core/ports/blob-store.js';
import { journalMix } from '../harness/messages.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '5000' }, concurrency: { type: 'string', default: '8' }, rounds: { type: 'string', default: '3' }, threads: { type: 'string', default: '1' } } });
const n = Number(values.n);
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);

async function* one(b: Buffer): AsyncGenerator<Uint8Array> {
  yield b;
}

const dir = await mkdtemp(join(tmpdir(), 'mailsluice-read-cost-'));
try {
  const store = await createFsBlobStore({ directory: dir, compressionThreads: Number(values.threads) });
  const w = await store.openWriter();
  const items: Array<{ sha256: string; location: BlobLocation }> = [];
  let bytes = 0;
  for (const msg of journalMix(n, 0)) {
    const r = await w.put(one(msg), () => false);
    if (r.location) items.push({ sha256: r.sha256, location: r.location });
    bytes += msg.length;
  }
  await w.sync();
  await w.close();
  for (let round = 0; round < rounds; round++) {
    const elu0 = performance.eventLoopUtilization();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < items.length) {
          const it = items[next++]!;
          await store.read(it.location, it.sha256);
        }
      }),
    );
    const wall = performance.now() - t0;
    const elu = performance.eventLoopUtilization(elu0);
    const cpu = process.cpuUsage(cpu0);
    const perRead = (x: number): string => ((x * 1000) / items.length).toFixed(1);
    console.log(
      `round ${round + 1}: ${items.length} reads (${(bytes / 1e6).toFixed(1)} MB raw), ${concurrency} in flight: wall ${perRead(wall)} µs/read, ` +
        `main thread ${perRead(elu.active)} µs/read (ELU ${(elu.utilization * 100).toFixed(0)}%), process CPU ${((cpu.user + cpu.system) / items.length).toFixed(1)} µs/read`,
    );
  }
  await store.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
