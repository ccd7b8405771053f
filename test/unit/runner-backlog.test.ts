/**
 * A connection's backlog and rate in its runner's status (issue 14, items 1 and 5), driven with
 * the in-memory reference source and stores (test/reference/): the backlog is what the last
 * listing found not yet taken, counted down as commits land, 0 once the mailbox is empty; the
 * rate is messages per second over the last minute, falling to 0 a minute after the last; the
 * next attempt is the end of the wait under way (back-off, poll interval), null while it works.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionRunner, type RunnerConnection } from '../../src/core/connection/connection-runner.js';
import { RateWindow } from '../../src/core/connection/rate-window.js';
import { runDrainCycle, type DrainDeps } from '../../src/core/archive/drain-cycle.js';
import type { Logger } from '../../src/core/ports/logger.js';
import { MailsluiceError } from '../../src/core/errors/index.js';
import { MemoryStore } from '../reference/memory-store.js';
import { MemoryMailbox, MemorySource } from '../reference/memory-source.js';
import { MemoryBlobStore } from '../reference/memory-blob-store.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

const connection: RunnerConnection = {
  name: 'journal',
  mailbox: 'INBOX',
  folders: ['INBOX'],
  schedule: 'any-time',
  security: 'tls',
  auth: { type: 'basic' },
  maxMessagesPerCycle: 10,
  unseenOnly: false,
  idle: false,
  pollIntervalMs: 1000,
};

test('the backlog is what the listing found not yet taken, counted down by commits, 0 when the mailbox is empty; the rate is per second over a minute', async () => {
  const mailbox = new MemoryMailbox(Array.from({ length: 25 }, (_, i) => Buffer.from(`Subject: ${i}\r\n\r\nbody ${i}\r\n`)));
  let now = 1_700_000_000_000;
  const seen: Array<{ uid: number; backlog: number }> = [];
  let runner: ConnectionRunner | undefined;
  runner = new ConnectionRunner({
    config: connection,
    createSource: () => new MemorySource(mailbox, { beforeFetch: (c) => seen.push({ uid: c.uid!, backlog: runner!.status.backlog }) }),
    store: new MemoryStore(),
    blobStore: new MemoryBlobStore(),
    clock: { now: () => now, sleep: async () => {} },
    random: () => 0.5,
    logger: silent,
  });
  assert.equal(runner.status.backlog, 0, 'nothing listed yet');
  await runner.run({ once: true });
  assert.equal(runner.status.taken, 25);
  assert.equal(mailbox.messages.size, 0);
  // Listings of at most 10: the first two find 10 each, the third the last 5.
  assert.deepEqual(
    seen.filter((s) => [1, 11, 21].includes(s.uid)),
    [{ uid: 1, backlog: 10 }, { uid: 11, backlog: 10 }, { uid: 21, backlog: 5 }],
    'each listing sets the backlog to what it found',
  );
  assert.ok(seen.every((s) => s.backlog > 0), 'while messages are being fetched the backlog is above 0');
  assert.equal(runner.status.backlog, 0, 'the last listing found the mailbox empty');
  assert.equal(runner.snapshot().rateLastMinute, Math.round((25 / 60) * 100) / 100, '25 messages within the minute');
  now += 30_000;
  assert.equal(runner.snapshot().rateLastMinute, 0.42, 'still within the minute');
  now += 31_000;
  assert.equal(runner.snapshot().rateLastMinute, 0, 'a minute after the last commit');
});

test('the cycle tells onListed what it is to take: not what was taken before, nor what is set aside; 0 for an empty listing', async () => {
  const mailbox = new MemoryMailbox(Array.from({ length: 8 }, (_, i) => Buffer.from(`Subject: ${i}\r\n\r\nbody\r\n`)));
  const store = new MemoryStore();
  const source = new MemorySource(mailbox);
  const session = await source.open();
  const told: number[] = [];
  const commits: number[] = [];
  const deps: DrainDeps = {
    connection: 'journal',
    source,
    store,
    blobs: await new MemoryBlobStore().openWriter(),
    clock: { now: () => 0, sleep: async () => {} },
    logger: silent,
    maxMessagesPerCycle: 100,
    commitEveryMessages: 2,
    onListed: (n) => told.push(n),
    onCommit: (n) => commits.push(n),
    // UID 3 broke off session after session (ADR 0015): set aside, not to be taken.
    skip: (key) => key === mailbox.key(3),
  };
  // UIDs 1 and 2 were taken before (their server action was lost): acted on, not taken again.
  await store.commitTaken([1, 2].map((uid) => ({ connection: 'journal', sourceKey: mailbox.key(uid), mailbox: 'INBOX', uidValidity: 7, uid, uidl: null, sha256: String(uid).padStart(64, '0'), size: 10, blob: { ref: `r${uid}`, storedSize: 10 }, takenAt: 0 })));
  await runDrainCycle(session, deps);
  assert.deepEqual(told, [5], '8 listed, 2 taken before, 1 set aside');
  assert.equal(commits.reduce((a, b) => a + b, 0), 5, 'what was to be taken is committed: the runner counts its backlog down to 0 by these');
  assert.ok(commits.length > 1, `in more than one batch, so the backlog falls during the cycle: ${commits.join(', ')}`);
  mailbox.messages.clear();
  await runDrainCycle(session, deps);
  assert.deepEqual(told, [5, 0], 'an empty listing says 0');
});

test('RateWindow: one-second buckets over a ring of sixty', () => {
  const w = new RateWindow();
  w.add(0, 60);
  assert.equal(w.perSecond(0), 1);
  w.add(59_999, 60);
  assert.equal(w.perSecond(59_999), 2, 'both within the minute');
  assert.equal(w.perSecond(60_000), 1, 'the first one left it');
  w.add(120_500, 6);
  assert.equal(w.perSecond(120_900), 0.1, 'a bucket reused a minute later starts from 0');
  assert.equal(w.perSecond(1_000_000), 0);
});

test('nextAttemptAt: the end of a back-off and of a poll interval while the runner waits them, null while it works and once stopped', async () => {
  const now = 1_700_000_000_000;
  const mailbox = new MemoryMailbox([Buffer.from('Subject: 1\r\n\r\nbody\r\n')]);
  const stop = new AbortController();
  const seen: Array<{ state: string; nextAttemptAt: number | null; ms: number }> = [];
  const atOpen: Array<number | null> = [];
  let runner: ConnectionRunner | undefined;
  class Refused extends MemorySource {
    override async open(): Promise<never> {
      atOpen.push(runner!.status.nextAttemptAt);
      throw new MailsluiceError('SOURCE_CONNECT_REFUSED', 'nothing listens');
    }
  }
  class Waiting extends MemorySource {
    override async open(): ReturnType<MemorySource['open']> {
      atOpen.push(runner!.status.nextAttemptAt);
      return super.open();
    }
    override async waitForChange(ms: number): Promise<void> {
      seen.push({ state: runner!.status.state, nextAttemptAt: runner!.status.nextAttemptAt, ms });
      stop.abort();
    }
  }
  let sources = 0;
  runner = new ConnectionRunner({
    config: connection,
    createSource: () => (sources++ === 0 ? new Refused(mailbox) : new Waiting(mailbox)),
    store: new MemoryStore(),
    blobStore: new MemoryBlobStore(),
    clock: {
      now: () => now,
      sleep: async (ms: number) => void seen.push({ state: runner!.status.state, nextAttemptAt: runner!.status.nextAttemptAt, ms }),
    },
    random: () => 0.5,
    logger: silent,
  });
  assert.equal(runner.status.nextAttemptAt, null, 'not waiting yet');
  await runner.run({ once: false, signal: stop.signal });
  assert.equal(seen.length, 2, JSON.stringify(seen));
  assert.equal(seen[0]!.state, 'backoff');
  assert.equal(seen[0]!.nextAttemptAt, now + seen[0]!.ms, 'the end of the back-off');
  assert.deepEqual(seen[1], { state: 'waiting', nextAttemptAt: now + connection.pollIntervalMs, ms: connection.pollIntervalMs }, 'the end of the poll interval');
  assert.deepEqual(atOpen, [null, null], 'null while a session starts');
  assert.equal(runner.status.nextAttemptAt, null, 'stopped: no next attempt');
});
