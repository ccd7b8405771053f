/**
 * A purge's `reclaimSpace` beside `start`'s background scrub (ADR 0031, 0034): a scrub pass holds
 * the packs, so a reclaim run of the same process stops the pass instead of waiting for it (a
 * pass at a gentle rate reads for hours on a large archive); the run reclaims the space, and the
 * scrub starts over after it and finds the archive intact.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { takeReclaimLock } from '../../src/adapters/store-sqlite/index.js';
import { readServiceConfig } from '../../src/app/config-file.js';
import { createEmbeddedApp } from '../../src/app/embedded.js';
import { runScrub, SCRUB_STATE_FILE } from '../../src/app/scrub.js';
import { openArchive, verifyAll } from './compactor-fixture.js';
import { purgeHalf, seedPacks } from './reclaim-fixture.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('reclaim and scrub: a reclaim run stops a scrub pass holding the packs, reclaims, and the scrub starts over and finds the archive intact', { timeout: 120_000 }, async () => {
  const root = await mkdtemp(join(tmpdir(), 'mailsluice-reclaim-scrub-'));
  const dataDir = join(root, 'data');
  try {
    const a = await openArchive(dataDir);
    const all = await seedPacks(a, 3, 8);
    const { live } = purgeHalf(a, all);
    await a.close();
    // The packs as if written an hour ago (reclaimSpace leaves packs written in the last 5 minutes).
    const old = new Date(Date.now() - 3_600_000);
    for (const f of await readdir(join(dataDir, 'blobs'))) await utimes(join(dataDir, 'blobs', f), old, old);
    const configFile = join(root, 'mailsluice.yaml');
    // A slow scrub (0.2 MiB/s over ~4 MB of packs: 20 s) due 3.6 s after the start.
    await writeFile(configFile, stringify({ dataDir: './data', api: { enabled: false }, connections: [], archive: { scrub: { enabled: true, everyHours: 0.001, mbPerSecond: 0.2 } } }));
    const app = await createEmbeddedApp(readServiceConfig(configFile), { holder: 'start' });
    const ac = new AbortController();
    const scrub = runScrub(app, ac.signal);
    try {
      // Wait until the pass holds the packs.
      for (let i = 0; i < 200; i++) {
        const probe = await takeReclaimLock(dataDir, 'exclusive', 0);
        if (!probe) break;
        probe.release();
        await sleep(100);
      }
      assert.equal(await takeReclaimLock(dataDir, 'exclusive', 0), null, 'the scrub pass holds the packs');
      const started = Date.now();
      const r = await app.reclaimSpace();
      assert.ok(r.packsRewritten > 0, `rewrote ${r.packsRewritten}`);
      assert.ok(r.bytesAfter < r.bytesBefore * 0.7, `${r.bytesBefore} → ${r.bytesAfter}`);
      assert.ok(Date.now() - started < 20_000, 'the run did not wait for the pass to end');
      // The scrub starts over and records an intact archive.
      let verdict: { ok: boolean; problems: number } | null = null;
      for (let i = 0; i < 600 && !verdict; i++) {
        verdict = await readFile(join(dataDir, SCRUB_STATE_FILE), 'utf8').then((t) => JSON.parse(t) as { ok: boolean; problems: number }, () => null);
        if (!verdict) await sleep(100);
      }
      assert.ok(verdict, 'a scrub pass finished after the run');
      assert.equal(verdict.ok, true, JSON.stringify(verdict));
    } finally {
      ac.abort();
      await scrub;
      await app.close();
    }
    const b = await openArchive(dataDir);
    try {
      assert.deepEqual(await verifyAll(b, live), []);
    } finally {
      await b.close();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
