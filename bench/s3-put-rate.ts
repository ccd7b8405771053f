/**
 * Per-object PUT rate of small messages against a private Ceph RGW, at a few concurrencies, with
 * and without `If-None-Match: *`, through the SDK and through blob-s3's writer, next to the pack
 * alternative (many messages in one object). docs/adr/0049-s3-raw-store.md records the numbers
 * and the decision. Not part of `npm run bench`: it starts its own Ceph (a few seconds).
 *
 * With `--writer-only`, only blob-s3's writer rows, in clear and encrypted at rest (the archive
 * keyring, ADR 0033), each pair on fresh buckets one after the other.
 *
 * Run: `./node_modules/.bin/tsc -p . && node dist/bench/s3-put-rate.js [--n 1000] [--size 4096] [--writer-only]`
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3';
import { startCephRgw, type CephRgw } from '../test/harness/ceph-rgw.js';
import { createS3BlobStore } from '../src/adapters/blob-s3/index.js';
import { ArchiveKeyring } from '../src/adapters/blob-fs/keyring.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const N = arg('n', 1000);
const SIZE = arg('size', 4096);

async function pool<T>(n: number, items: T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < items.length) await fn(items[i++]!);
  }));
}

function client(s: CephRgw): S3Client {
  return new S3Client({
    endpoint: s.endpoint, region: s.region, forcePathStyle: true,
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: 128 }) },
  });
}

async function sdkRate(s: CephRgw, s3: S3Client, conc: number, conditional: boolean): Promise<number> {
  const Bucket = await s.createBucket('rate');
  const bodies = Array.from({ length: N }, (_, i) => ({ Key: `o/${i}`, Body: randomBytes(SIZE) }));
  const t0 = performance.now();
  await pool(conc, bodies, (o) => s3.send(new PutObjectCommand({ Bucket, ...o, ContentLength: SIZE, ...(conditional ? { IfNoneMatch: '*' } : {}) })));
  return N / ((performance.now() - t0) / 1000);
}

const keyDir = mkdtempSync(join(tmpdir(), 'ms-bench-keys-'));
const keyring = await ArchiveKeyring.open(keyDir, randomBytes(32));

async function writerRate(s: CephRgw, putsInFlight: number, packBodyLimit?: number, encrypted = false): Promise<number> {
  const bucket = await s.createBucket('writer');
  const store = createS3BlobStore({
    endpoint: s.endpoint, bucket, accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey, putsInFlight,
    ...(packBodyLimit === undefined ? {} : { packBodyLimit }), ...(encrypted ? { keyring } : {}),
  });
  const bodies = Array.from({ length: N }, () => randomBytes(SIZE));
  const t0 = performance.now();
  const w = await store.openWriter();
  // As the drain does: one put after another, a sync per 500 (the group commit).
  for (let i = 0; i < N; i++) {
    await w.put((async function* () { yield bodies[i]!; })(), () => false);
    if (i % 500 === 499) await w.sync();
  }
  await w.sync();
  const rate = N / ((performance.now() - t0) / 1000);
  await w.close();
  store.close();
  return rate;
}

async function packRate(s: CephRgw, s3: S3Client, perPack: number, conc: number): Promise<number> {
  const Bucket = await s.createBucket('pack');
  const packs = Math.max(4, Math.ceil(N / perPack));
  const bodies = Array.from({ length: packs }, (_, i) => ({ Key: `p/${i}`, Body: randomBytes(perPack * SIZE) }));
  const t0 = performance.now();
  await pool(conc, bodies, (o) => s3.send(new PutObjectCommand({ Bucket, ...o, ContentLength: o.Body.length, IfNoneMatch: '*' })));
  return (packs * perPack) / ((performance.now() - t0) / 1000);
}

/** blob-s3's writer in clear and encrypted, alternating on fresh buckets so a busy moment of the machine hits both. */
async function writerRows(): Promise<void> {
  for (let round = 1; round <= 3; round++) {
    for (const [label, limit] of [['each blob alone (packBodyLimit 0)', 0], ['packed (default)', undefined]] as const) {
      const clear = await writerRate(s, 8, limit);
      const sealed = await writerRate(s, 8, limit, true);
      rows.push(`round ${round}, blob-s3 writer, ${label}, putsInFlight 8: ${clear.toFixed(0)} messages/s in clear, ${sealed.toFixed(0)} encrypted`);
    }
  }
}

async function allRows(): Promise<void> {
  for (const conc of [1, 4, 16, 32, 64]) {
    const plain = await sdkRate(s, s3, conc, false);
    const cond = await sdkRate(s, s3, conc, true);
    rows.push(`SDK PutObject, ${conc} in flight: ${plain.toFixed(0)}/s plain, ${cond.toFixed(0)}/s with If-None-Match`);
  }
  for (const inFlight of [8, 32]) rows.push(`blob-s3 writer, each blob alone (packBodyLimit 0), putsInFlight ${inFlight}: ${(await writerRate(s, inFlight, 0)).toFixed(0)} messages/s`);
  for (const inFlight of [1, 8]) rows.push(`blob-s3 writer, packed (default), putsInFlight ${inFlight}: ${(await writerRate(s, inFlight)).toFixed(0)} messages/s`);
  for (const [perPack, conc] of [[256, 2], [1024, 2]] as const) {
    rows.push(`packs of ${perPack} × ${SIZE} B (${((perPack * SIZE) / 1048576).toFixed(0)} MiB), ${conc} in flight: ${(await packRate(s, s3, perPack, conc)).toFixed(0)} messages/s`);
  }
}

const s = await startCephRgw();
const rows: string[] = [`ceph rgw start: ${s.startMs} ms; ${N} objects of ${SIZE} bytes per row`];
const s3 = client(s);
try {
  if (process.argv.includes('--writer-only')) await writerRows();
  else await allRows();
} finally {
  s3.destroy();
  await s.stop();
  rmSync(keyDir, { recursive: true, force: true });
}
process.stdout.write(rows.join('\n') + '\n');
