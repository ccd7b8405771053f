/**
 * The crash test over Microsoft Graph (issue 19), as test/e2e/ews-crash.test.ts is for EWS: the
 * real CLI against the Graph simulator (test/harness/graph-simulator.ts; no tenant is reachable
 * here), killed with SIGKILL at random moments, then run to the end: every message is in the
 * archive once, byte for byte, and the folder is empty; with `leave` (listed by delta query from
 * the stored link), every message is archived once and stays.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { archivedRows } from '../harness/archive-rows.js';
import { startGraphSimulator, type GraphSimulator } from '../harness/graph-simulator.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { makeWorkspace, runCli, runKilledAtRandom } from '../harness/cli.js';
import { graphConnectionInput } from '../harness/graph-connection.js';
import { journalMix, sha256 } from '../harness/messages.js';
import { seededRandom } from '../harness/random.js';

const sims: GraphSimulator[] = [];
after(async () => {
  for (const s of sims) await s.stop();
});

const COUNT = Number(process.env.CRASH_MESSAGES ?? 1000);
const KILLS = Number(process.env.CRASH_KILLS ?? 10);

test('SIGKILL at random moments of a Graph drain loses and doubles nothing', async () => {
  const seed = Number(process.env.CRASH_SEED ?? Date.now() % 100000);
  const random = seededRandom(seed);
  const sim = await startGraphSimulator();
  sims.push(sim);
  const originals = [...journalMix(COUNT, 100)];
  let t = Date.UTC(2026, 0, 1);
  for (const raw of originals) sim.add('inbox', raw, { received: new Date((t += 1000)) });
  const expected = new Map(originals.map((b) => [sha256(b), Buffer.from(b)]));
  assert.equal(expected.size, COUNT);
  const ws = makeWorkspace({ connections: [graphConnectionInput(sim, { deletePolicy: 'delete-and-expunge', maxMessagesPerCycle: 200 })] });
  try {
    const killed = await runKilledAtRandom(ws, { args: () => ['drain'], kills: KILLS, minMs: 150, spreadMs: 1500, random, seed, untilDone: true });
    const final = await runCli(['drain', '--json'], ws);
    assert.equal(final.code, 0, `final drain failed (seed ${seed}): ${final.stderr}`);
    assert.ok(killed > 0, `no run was killed (seed ${seed}); the test proved nothing`);
    assert.equal(sim.messages('inbox').length, 0, `folder not empty (seed ${seed})`);
    const { messages, keys, done } = archivedRows(ws.dataDir);
    assert.equal(messages.length, COUNT, `archive holds ${messages.length}, expected ${COUNT} (seed ${seed})`);
    assert.deepEqual(new Set(messages), new Set(expected.keys()));
    assert.equal(keys, COUNT, `each message taken once (seed ${seed})`);
    assert.equal(done, COUNT, 'every server action confirmed');
    await assertArchiveHolds(ws, expected, `(seed ${seed})`);
    console.log(`Graph crash test: ${killed} kills, seed ${seed}, ${COUNT} messages archived once each`);
  } finally {
    ws.cleanup();
  }
});

const LEAVE_COUNT = Number(process.env.CRASH_LEAVE_MESSAGES ?? 1500);
// The CLI lists for the first time a second or more after it starts: earlier kills would prove
// nothing about the listing, so they come later.
const LEAVE_KILLS = Number(process.env.CRASH_KILLS ?? 6);

test('SIGKILL at random moments of a Graph drain with leave (listed by delta query from the stored link) loses and doubles nothing', async () => {
  const seed = Number(process.env.CRASH_SEED ?? Date.now() % 100000);
  const random = seededRandom(seed);
  const sim = await startGraphSimulator();
  sims.push(sim);
  const originals = [...journalMix(LEAVE_COUNT, 100)];
  let t = Date.UTC(2026, 0, 1);
  for (const raw of originals) sim.add('inbox', raw, { received: new Date((t += 1000)) });
  const expected = new Map(originals.map((b) => [sha256(b), Buffer.from(b)]));
  const ws = makeWorkspace({ connections: [graphConnectionInput(sim, { deletePolicy: 'leave', maxMessagesPerCycle: 40 })] });
  try {
    const killed = await runKilledAtRandom(ws, { args: () => ['drain'], kills: LEAVE_KILLS, minMs: 800, spreadMs: 2500, random, seed, untilDone: true });
    const before = archivedRows(ws.dataDir).messages.length;
    const final = await runCli(['drain', '--json'], ws);
    assert.equal(final.code, 0, `final drain failed (seed ${seed}): ${final.stderr}`);
    assert.ok(killed > 0, `no run was killed (seed ${seed}); the test proved nothing`);
    assert.equal(sim.messages('inbox').length, LEAVE_COUNT, `leave keeps every message (seed ${seed})`);
    const rows = archivedRows(ws.dataDir);
    assert.equal(rows.messages.length, LEAVE_COUNT, `archive holds ${rows.messages.length}, expected ${LEAVE_COUNT} (seed ${seed})`);
    assert.deepEqual(new Set(rows.messages), new Set(expected.keys()));
    assert.equal(rows.keys, LEAVE_COUNT, `each message taken once (seed ${seed})`);
    await assertArchiveHolds(ws, expected, `(seed ${seed})`);
    assert.ok(sim.count('delta') > 0, 'listed by delta query');
    const again = await runCli(['drain', '--json'], ws);
    assert.equal((JSON.parse(again.stdout.trim()) as { taken: number }).taken, 0, 'a later drain takes nothing again');
    console.log(`Graph crash test (leave): ${killed} kills, ${before} archived before the last run, seed ${seed}, ${LEAVE_COUNT} messages archived once each`);
  } finally {
    ws.cleanup();
  }
});
