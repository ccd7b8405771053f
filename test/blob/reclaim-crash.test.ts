/**
 * SIGKILL during a reclaim run (ADR 0036): a child process reclaims an archive half of which was
 * purged (simulating h/retention's purge) and is killed at every step boundary and at random
 * moments, many times over the same archive; after each kill every live message reads back
 * byte-identical and verify finds nothing but the purged records not reclaimed yet (no purged
 * blob comes back: none has a row); a last run reclaims the space and verify is clean. The same
 * with encryption on.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ArchiveKeyring } from '../../src/adapters/blob-fs/index.js';
import { openArchive, verifyAll } from './compactor-fixture.js';
import { blobBytes, problemsBesidesPurged, purgeHalf, reclaim, seedPacks, verifyReport } from './reclaim-fixture.js';

const child = fileURLToPath(new URL('./reclaim-child.js', import.meta.url));

/** Runs the child, killing it after `killAfter` step lines (plus `jitterMs`), or at `atMs` after its start; what ended it. */
function runChild(args: string[], kill: { afterSteps?: number; jitterMs?: number; atMs?: number }): Promise<{ how: string; steps: number }> {
  const p = spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let steps = 0;
  if (kill.atMs !== undefined) setTimeout(() => p.exitCode === null && p.kill('SIGKILL'), kill.atMs);
  return new Promise((resolve) => {
    p.stdout.on('data', (d: Buffer) => {
      steps += (d.toString().match(/^step/gm) ?? []).length;
      if (kill.afterSteps !== undefined && steps >= kill.afterSteps && p.exitCode === null) setTimeout(() => p.kill('SIGKILL'), kill.jitterMs ?? 0);
    });
    p.on('exit', (code, sig) => resolve({ how: sig ?? String(code), steps }));
  });
}

async function crashMany(encrypted: boolean): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'mailsluice-reclaim-crash-'));
  // A new directory for every fresh start: this process's read threads keep pack descriptors
  // open by path for a few seconds, and a pack of the same name in a copy is another file.
  let dir = join(root, 'a0');
  const key = encrypted ? randomBytes(32) : null;
  const open = async () => openArchive(dir, key ? await ArchiveKeyring.open(dir, key) : undefined);
  try {
    // Seed and purge, and keep a copy of it: the step-boundary runs each start over from it.
    let a = await open();
    const all = await seedPacks(a, 4, 10);
    const { live, purged } = purgeHalf(a, all);
    const before = await blobBytes(a);
    await a.close();
    const pristine = join(root, 'pristine');
    await cp(dir, pristine, { recursive: true });
    let runs = 0;
    let killed = 0;
    let finished = false;
    // Every step boundary of a run from the purged archive (14: normalised, then per pack copied,
    // synced, verified, switched, deleted; a few ms later for every third), then kills at random
    // points: from the purged archive, or over whatever the kill before left (a run after a crash).
    for (let n = 1; runs < 24; n++) {
      const fresh = n <= 14 || n % 2 === 0;
      const kill = n <= 14 ? { afterSteps: n, jitterMs: n % 3 === 0 ? 5 : 0 } : { afterSteps: 1 + Math.floor(Math.random() * (fresh ? 28 : 6)), jitterMs: Math.floor(Math.random() * 8) };
      if (fresh) {
        dir = join(root, `a${n}`);
        await cp(pristine, dir, { recursive: true });
      }
      const r = await runChild([dir, 'space', ...(key ? [key.toString('hex')] : [])], kill);
      runs++;
      if (r.how === '0') finished = true;
      if (r.how === 'SIGKILL') killed++;
      a = await open();
      const what = `run ${runs} (${r.how} after ${r.steps} steps)`;
      assert.deepEqual(await verifyAll(a, live), [], what);
      assert.deepEqual(problemsBesidesPurged(await verifyReport(a), purged), [], what);
      await a.close();
    }
    assert.ok(killed >= 16, `only ${killed} of ${runs} runs were killed`);
    // The last run, unkilled, finishes the job: nothing but purged records in packs at most a
    // quarter dead is left (ADR 0034's threshold) ...
    a = await open();
    await reclaim(a);
    assert.deepEqual(await verifyAll(a, live), []);
    assert.deepEqual(problemsBesidesPurged(await verifyReport(a), purged), []);
    const after = await blobBytes(a);
    assert.ok(after < before * 0.65, `blob files ${before} → ${after} bytes (finished by a child: ${finished})`);
    // ... and with no threshold, not even those: verify is clean.
    await reclaim(a, 'space', undefined, 0);
    assert.deepEqual(await verifyAll(a, live), []);
    assert.deepEqual((await verifyReport(a)).problems, [], 'no purged record left, nothing missing');
    await a.close();
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

test('reclaim: SIGKILL at every step and at random moments, 24 times, never loses a live message; the space is reclaimed in the end', { timeout: 600_000 }, () => crashMany(false));

test('reclaim: the same with encryption on', { timeout: 600_000 }, () => crashMany(true));
