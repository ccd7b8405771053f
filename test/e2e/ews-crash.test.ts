/**
 * The crash test over EWS (issue 18), as test/e2e/crash.test.ts is for IMAP and POP3: the real
 * CLI against the EWS simulator (test/harness/ews-simulator.ts; no Exchange server runs here),
 * killed with SIGKILL at random moments, then run to the end: every item is in the archive once,
 * byte for byte, and the folder is empty (with `leave`: kept, and listed from the stored sync
 * state, ADR 0047). Before it, a drain with Windows authentication (NTLM
 * with a domain, channel binding required) of mixed mail with large items.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { archivedRows } from '../harness/archive-rows.js';
import { startEwsSimulator, type EwsSimulator } from '../harness/ews-simulator.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { makeWorkspace, runCli, runKilledAtRandom } from '../harness/cli.js';
import { EWS_USER as USER, ewsConnectionInput } from '../harness/ews-connection.js';
import { journalMix, sha256 } from '../harness/messages.js';
import { seededRandom } from '../harness/random.js';

const sims: EwsSimulator[] = [];
after(async () => {
  for (const s of sims) await s.stop();
});

async function simulator(options: Parameters<typeof startEwsSimulator>[0] = {}): Promise<EwsSimulator> {
  const sim = await startEwsSimulator({ users: [{ ...USER }], auth: ['NTLM'], ...options });
  sims.push(sim);
  return sim;
}

function loaded(sim: EwsSimulator, count: number, size = 100): Map<string, Buffer> {
  const originals = [...journalMix(count, size)];
  for (const raw of originals) sim.add('Inbox', raw);
  const expected = new Map(originals.map((b) => [sha256(b), Buffer.from(b)]));
  assert.equal(expected.size, count);
  return expected;
}

test('a drain over EWS with NTLM (domain, channel binding required) empties the folder into the archive byte for byte', async () => {
  const sim = await simulator({ channelBinding: 'required' });
  const expected = loaded(sim, 300);
  const ws = makeWorkspace({ connections: [ewsConnectionInput(sim, { deletePolicy: 'delete-and-expunge', maxMessagesPerCycle: 100 })] });
  try {
    const r = await runCli(['drain', '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sim.items('Inbox').length, 0, 'the folder is empty');
    assert.equal(sim.items('Deleted Items').length, 0, 'hard-deleted, not moved to Deleted Items');
    const rows = archivedRows(ws.dataDir);
    assert.equal(rows.messages.length, 300);
    assert.equal(rows.done, 300, 'every server action confirmed');
    await assertArchiveHolds(ws, expected);
    assert.deepEqual(sim.validationErrors, []);
    assert.ok(!r.stderr.includes(USER.password) && !r.stdout.includes(USER.password), 'the password is never printed');
  } finally {
    ws.cleanup();
  }
});

const COUNT = Number(process.env.CRASH_MESSAGES ?? 1500);
const KILLS = Number(process.env.CRASH_KILLS ?? 10);

test('SIGKILL at random moments of an EWS drain loses and doubles nothing', async () => {
  const seed = Number(process.env.CRASH_SEED ?? Date.now() % 100000);
  const random = seededRandom(seed);
  const sim = await simulator();
  const expected = loaded(sim, COUNT);
  const ws = makeWorkspace({ connections: [ewsConnectionInput(sim, { deletePolicy: 'delete-and-expunge', maxMessagesPerCycle: 200 })] });
  try {
    const killed = await runKilledAtRandom(ws, { args: () => ['drain'], kills: KILLS, minMs: 150, spreadMs: 1500, random, seed, untilDone: true });
    const final = await runCli(['drain', '--json'], ws);
    assert.equal(final.code, 0, `final drain failed (seed ${seed}): ${final.stderr}`);
    assert.ok(killed > 0, `no run was killed (seed ${seed}); the test proved nothing`);
    assert.equal(sim.items('Inbox').length, 0, `folder not empty (seed ${seed})`);
    const rows = archivedRows(ws.dataDir);
    assert.equal(rows.messages.length, COUNT, `archive holds ${rows.messages.length}, expected ${COUNT} (seed ${seed})`);
    assert.deepEqual(new Set(rows.messages), new Set(expected.keys()));
    assert.equal(rows.keys, COUNT, `each item taken once (seed ${seed})`);
    assert.equal(rows.done, COUNT, 'every server action confirmed');
    await assertArchiveHolds(ws, expected, `(seed ${seed})`);
    console.log(`EWS crash test: ${killed} kills, seed ${seed}, ${COUNT} messages archived once each`);
  } finally {
    ws.cleanup();
  }
});

// Enough items that a run lasts several seconds on a quiet machine too: with 300, a CI run drained
// them all before the first kill was due (and the test, rightly, said it proved nothing).
const LEAVE_COUNT = Number(process.env.CRASH_LEAVE_MESSAGES ?? 1500);
const LEAVE_KILLS = Number(process.env.CRASH_KILLS ?? 6);

test('SIGKILL at random moments of an EWS drain with leave (listed by SyncFolderItems from the stored state) loses and doubles nothing', async () => {
  const seed = Number(process.env.CRASH_SEED ?? Date.now() % 100000);
  const random = seededRandom(seed);
  const sim = await simulator();
  const expected = loaded(sim, LEAVE_COUNT);
  const ws = makeWorkspace({ connections: [ewsConnectionInput(sim, { deletePolicy: 'leave', maxMessagesPerCycle: 40 })] });
  try {
    // Half the kills early (around the first listing), half later (mid-drain, after commits), so
    // that on a slow machine not every kill falls before the first commit.
    const early = Math.ceil(LEAVE_KILLS / 2);
    let killed = await runKilledAtRandom(ws, { args: () => ['drain'], kills: early, minMs: 800, spreadMs: 2500, random, seed, untilDone: true });
    if (killed === early) killed += await runKilledAtRandom(ws, { args: () => ['drain'], kills: LEAVE_KILLS - early, minMs: 2500, spreadMs: 5000, random, seed, untilDone: true });
    const before = archivedRows(ws.dataDir).messages.length;
    const final = await runCli(['drain', '--json'], ws);
    assert.equal(final.code, 0, `final drain failed (seed ${seed}): ${final.stderr}`);
    assert.ok(killed > 0, `no run was killed (seed ${seed}); the test proved nothing`);
    assert.ok(before > 0, `the killed runs archived nothing (seed ${seed}); the test proved nothing`);
    assert.equal(sim.items('Inbox').length, LEAVE_COUNT, `leave keeps every item (seed ${seed})`);
    const rows = archivedRows(ws.dataDir);
    assert.equal(rows.messages.length, LEAVE_COUNT, `archive holds ${rows.messages.length}, expected ${LEAVE_COUNT} (seed ${seed})`);
    assert.deepEqual(new Set(rows.messages), new Set(expected.keys()));
    assert.equal(rows.keys, LEAVE_COUNT, `each item taken once (seed ${seed})`);
    await assertArchiveHolds(ws, expected, `(seed ${seed})`);
    const db = new Database(join(ws.dataDir, 'archive.db'), { readonly: true });
    try {
      assert.equal((db.prepare('SELECT COUNT(*) FROM sync_state').pluck().get() as number), 1, 'the sync state is kept');
    } finally {
      db.close();
    }
    console.log(`EWS crash test (leave): ${killed} kills, ${before} archived before the last run, seed ${seed}, ${LEAVE_COUNT} messages archived once each`);
  } finally {
    ws.cleanup();
  }
});
