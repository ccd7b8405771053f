/**
 * The drain cycle's ordering guarantees, with recording fakes: blobs synced before the commit,
 * the server action only after the commit, the watermark never past an uncommitted message,
 * and what was received before a fetch error still committed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { runDrainCycle, type CycleResult, type DrainDeps } from '../../src/core/archive/drain-cycle.js';
import { BatchPipeline } from '../../src/core/archive/batch-pipeline.js';
import { recoverPendingActions } from '../../src/core/archive/recover-actions.js';
import { MailsluiceError, isMailsluiceError } from '../../src/core/errors/index.js';
import type { Candidate, MailboxSource, SourceSession } from '../../src/core/ports/mailbox-source.js';
import type { BlobWriter, PutResult } from '../../src/core/ports/blob-store.js';
import type { MailboxWatermark, TakenRecord } from '../../src/core/ports/drain-ledger.js';
import { MemoryStore } from '../reference/memory-store.js';
import { MemoryMailbox, MemorySource } from '../reference/memory-source.js';
import { MemoryBlobStore } from '../reference/memory-blob-store.js';
import type { Logger } from '../../src/core/ports/logger.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

/** The reference store (test/reference/memory-store.ts), recording its commits and actions as the tests read them. */
class RecordingStore extends MemoryStore {
  /** Committed records by source key, in commit order. */
  readonly committed = new Map<string, TakenRecord>();
  /** Keys whose server action was recorded done. */
  readonly done = new Set<string>();
  wm: MailboxWatermark | null = null;

  constructor(private readonly events: string[]) {
    super();
  }

  override async commitTaken(records: TakenRecord[], watermark?: { connection: string; mailbox: string } & MailboxWatermark): Promise<void> {
    this.events.push(`commit ${records.map((r) => r.uid).join(',')} wm=${watermark?.lastUid}`);
    await super.commitTaken(records, watermark);
    for (const r of records) this.committed.set(r.sourceKey, r);
    if (watermark) this.wm = { uidValidity: watermark.uidValidity, lastUid: watermark.lastUid };
  }

  override async markActionDone(connection: string, keys: string[]): Promise<void> {
    await super.markActionDone(connection, keys);
    for (const k of keys) this.done.add(k);
  }
}

function setup(uids: number[], opts: { failAfter?: number } = {}) {
  const events: string[] = [];
  // The reference source and blob store (test/reference/), watched through their hooks.
  const mailbox = new MemoryMailbox();
  for (const u of uids) mailbox.messages.set(u, Buffer.from(`message ${u}\r\n`));
  const server = mailbox.messages;
  const session: SourceSession = { mailbox: 'INBOX', uidValidity: 7, exists: uids.length, capabilities: [] };
  let n = 0;
  const source = new MemorySource(mailbox, {
    beforeFetch() {
      if (opts.failAfter !== undefined && n++ >= opts.failAfter) throw new Error('connection cut');
    },
    onYield: (c) => events.push(`fetch ${c.uid}`),
    onAction: (cands) => events.push(`action ${cands.map((c) => c.uid).join(',')}`),
  });
  // The cycle is handed a session as the runner hands it one; the source is open.
  void source.open();
  const inner = new MemoryBlobStore().writer();
  const writer: BlobWriter = {
    async put(body, known): Promise<PutResult> {
      const r = await inner.put(body, known);
      events.push(`put ${r.sha256.slice(0, 6)}`);
      return r;
    },
    async sync() {
      await inner.sync();
      events.push('sync');
    },
    close: () => inner.close(),
  };
  const store = new RecordingStore(events);
  const deps: DrainDeps = {
    connection: 'c',
    source,
    store,
    blobs: writer,
    clock: { now: () => 0, sleep: async () => {} },
    logger: silent,
    maxMessagesPerCycle: 100,
    commitEveryMessages: 2,
  };
  return { events, server, session, deps, committed: store.committed, done: store.done, watermark: () => store.wm };
}

test('blobs are synced before each commit and the server action comes after every commit', async () => {
  const t = setup([1, 2, 3, 4, 5]);
  const r = await runDrainCycle(t.session, t.deps);
  assert.equal(r.taken, 5);
  assert.equal(r.actioned, 5);
  const firstAction = t.events.findIndex((e) => e.startsWith('action'));
  const lastCommit = t.events.map((e) => e.startsWith('commit')).lastIndexOf(true);
  assert.ok(firstAction > lastCommit, `server action before a commit: ${t.events.join(' | ')}`);
  t.events.forEach((e, i) => {
    if (e.startsWith('commit')) assert.equal(t.events[i - 1], 'sync', `commit without a sync before it: ${t.events.join(' | ')}`);
  });
  assert.equal(t.server.size, 0);
  assert.equal(t.watermark()?.lastUid, 5);
});

test('a fetch error commits what was received, acts on nothing, and the next cycle finishes the rest once', async () => {
  const t = setup([1, 2, 3, 4, 5], { failAfter: 3 });
  await assert.rejects(runDrainCycle(t.session, t.deps), /connection cut/);
  assert.deepEqual([...t.committed.values()].map((r) => r.uid), [1, 2, 3]);
  assert.ok(!t.events.some((e) => e.startsWith('action')), 'no server action after a failed fetch');
  assert.equal(t.watermark()?.lastUid, 3);
  assert.equal(t.server.size, 5, 'nothing removed from the server');

  // Reconnect: pending actions first, then the rest.
  const t2deps = { ...t.deps };
  const recovered = await recoverPendingActions(t.session, t2deps);
  assert.equal(recovered, 3);
  (t.deps.source as { fetch: MailboxSource['fetch'] }).fetch = async function* (cands) {
    for (const c of cands) yield { candidate: c, body: (async function* () { yield Buffer.from(`message ${c.uid}\r\n`); })(), buffered: true };
  };
  const r = await runDrainCycle(t.session, t.deps);
  assert.equal(r.taken, 2);
  assert.equal(t.committed.size, 5);
  assert.equal(t.server.size, 0);
});

test('the watermark stops below a message that was listed but not committed', async () => {
  const t = setup([1, 2, 3]);
  // The server returns 1 and 3 but not 2 (a fetch that skipped it): 2 must be listed again.
  (t.deps.source as { fetch: MailboxSource['fetch'] }).fetch = async function* (cands) {
    for (const c of cands) if (c.uid !== 2) yield { candidate: c, body: (async function* () { yield Buffer.from(`m ${c.uid}`); })(), buffered: false };
  };
  await runDrainCycle(t.session, t.deps);
  assert.equal(t.watermark()?.lastUid, 1);
});

// ---------------------------------------------------------------------------------------------
// unseenOnly (SPEC "Connection settings"): a message that fails to archive is flagged \Seen so
// the listing skips it, reported, and neither deleted nor retried forever.

interface UnseenOptions {
  /** Whether the put of this message fails on writer number `writer` (1 = the session's first). */
  failPut?: (uid: number, writer: number) => boolean;
  /** Whether the metadata commit of a batch holding these UIDs fails. */
  failCommit?: (uids: number[]) => boolean;
  /** Whether flagging fails. */
  failFlag?: boolean;
  /** Yield bodies as streamed (each put awaited before the next message) instead of buffered. */
  streamed?: boolean;
  /** Break off the body of this message mid-stream (a source error, not the archive's). */
  cutBody?: number;
  onArchiveFailure?: 'retry' | 'flag-seen';
}

/** The fakes of {@link setup} with \Seen flags, an unseen-only listing, failing puts and commits, and writers that refuse all work after a failure. */
function setupUnseen(uids: number[], opts: UnseenOptions = {}) {
  const t = setup(uids);
  const seen = new Set<number>();
  const errors: Array<{ msg: string; fields: Record<string, unknown> }> = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn() {},
    error(msg, fields = {}) {
      errors.push({ msg, fields });
    },
    child: () => logger,
  };
  let writers = 0;
  const writer = (): BlobWriter => {
    const no = ++writers;
    let failed: MailsluiceError | null = null;
    return {
      async put(body): Promise<PutResult> {
        if (failed) throw new MailsluiceError('STORE_WRITE_FAILED', `blob writer is unusable after an earlier failure: ${failed.message}`);
        const chunks: Buffer[] = [];
        for await (const c of body) chunks.push(Buffer.from(c));
        const raw = Buffer.concat(chunks);
        const uid = Number(/^message (\d+)/.exec(raw.toString())?.[1]);
        if (opts.failPut?.(uid, no)) {
          failed = new MailsluiceError('STORE_WRITE_FAILED', `file too large for the file system writing pack-${no}`);
          throw failed;
        }
        const sha256 = createHash('sha256').update(raw).digest('hex');
        t.events.push(`put ${uid} w${no}`);
        return { sha256, size: raw.length, location: { ref: sha256, storedSize: raw.length } };
      },
      async sync() {
        if (failed) throw new MailsluiceError('STORE_WRITE_FAILED', 'blob writer is unusable after an earlier failure');
        t.events.push(`sync w${no}`);
      },
      async close() {
        t.events.push(`close w${no}`);
      },
    };
  };
  const source = t.deps.source as MailboxSource;
  const list = source.listCandidates.bind(source);
  source.listCandidates = async (limit, after) => (await list(Number.MAX_SAFE_INTEGER, after)).filter((c) => !seen.has(c.uid!)).slice(0, limit);
  source.fetch = async function* (cands) {
    for (const c of cands) {
      const body = t.server.get(c.uid!);
      if (!body) continue;
      t.events.push(`fetch ${c.uid}`);
      const cut = opts.cutBody === c.uid;
      yield {
        candidate: c,
        body: (async function* () {
          yield body;
          if (cut) throw new MailsluiceError('SOURCE_NETWORK', 'connection cut mid-message');
        })(),
        buffered: !opts.streamed,
      };
    }
  };
  source.markFailed = async (cands) => {
    t.events.push(`flag ${cands.map((c) => c.uid).join(',')}`);
    if (opts.failFlag) throw new MailsluiceError('SOURCE_PROTOCOL', 'flagging 1 message \\Seen failed on 127.0.0.1:143');
    for (const c of cands) seen.add(c.uid!);
  };
  const store = t.deps.store;
  const commitTaken = store.commitTaken.bind(store);
  store.commitTaken = async (records, watermark) => {
    if (records.length > 0 && opts.failCommit?.(records.map((r) => r.uid!))) {
      t.events.push(`commit failed ${records.map((r) => r.uid).join(',')}`);
      throw new MailsluiceError('STORE_WRITE_FAILED', 'database or disk is full committing 2 messages');
    }
    return commitTaken(records, watermark);
  };
  let failedCount = 0;
  const deps: DrainDeps = {
    ...t.deps,
    logger,
    blobs: writer(),
    commitEveryMessages: 100,
    onArchiveFailure: opts.onArchiveFailure ?? 'flag-seen',
    archiveFailures: { inARow: 0 },
    onFailed: (n) => (failedCount += n),
  };
  deps.renewBlobs = async () => {
    await deps.blobs.close();
    deps.blobs = writer();
    return deps.blobs;
  };
  /** Runs cycles as the connection runner does until one finds nothing to do. */
  const drain = async (): Promise<CycleResult[]> => {
    const results: CycleResult[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await runDrainCycle(t.session, deps);
      results.push(r);
      if (r.taken === 0 && r.actioned === 0 && r.failed === 0) return results;
    }
    throw new Error(`no end after 20 cycles: ${t.events.join(' | ')}`);
  };
  return { ...t, deps, seen, errors, drain, failedCount: () => failedCount, writers: () => writers };
}

test('unseenOnly: a message whose put fails is flagged \\Seen, reported, never deleted; the rest of the listing goes to a fresh writer', async () => {
  const t = setupUnseen([1, 2, 3, 4, 5, 6], { streamed: true, failPut: (uid) => uid === 3 });
  const first = await runDrainCycle(t.session, t.deps);
  // 1 and 2 were stored on the writer that failed on 3 and cannot be synced: fetched again later.
  assert.deepEqual({ taken: first.taken, failed: first.failed }, { taken: 3, failed: 1 });
  assert.deepEqual([...t.committed.values()].map((r) => r.uid), [4, 5, 6]);
  assert.ok(t.events.includes('put 4 w2'), `the rest goes to a fresh writer: ${t.events.join(' | ')}`);
  assert.ok(t.events.includes('close w1'), 'the failed writer is closed');
  const flag = t.events.indexOf('flag 3');
  assert.ok(flag > t.events.lastIndexOf('commit 4,5,6 wm=0') && flag < t.events.indexOf('action 4,5,6'), `flagged at the end of the cycle: ${t.events.join(' | ')}`);

  const rest = await t.drain();
  assert.deepEqual(rest.map((r) => [r.taken, r.failed]), [[2, 0], [0, 0]]);
  assert.deepEqual([...t.committed.values()].map((r) => r.uid).sort(), [1, 2, 4, 5, 6]);
  assert.deepEqual([...t.server.keys()], [3], 'the failed message is still on the server');
  assert.deepEqual([...t.seen], [3]);
  assert.ok(!t.events.some((e) => e.startsWith('action') && e.split(' ')[1]!.split(',').includes('3')), 'no server action for it');
  assert.equal(t.events.filter((e) => e.startsWith('flag')).length, 1, 'flagged once, never tried again');
  assert.equal(t.failedCount(), 1);
  assert.deepEqual(t.errors, [
    {
      msg: 'message could not be archived; left on the server flagged \\Seen',
      fields: { key: 'imap:INBOX:7:3', code: 'STORE_WRITE_FAILED', error: 'file too large for the file system writing pack-1' },
    },
  ]);
});

test('unseenOnly: buffered puts in flight on the failed writer are fetched again, only the one that failed is flagged', async () => {
  const t = setupUnseen([1, 2, 3, 4, 5, 6], { failPut: (uid, writer) => uid === 2 && writer === 1 });
  const results = await t.drain();
  assert.equal(results.reduce((n, r) => n + r.failed, 0), 1);
  assert.deepEqual([...t.seen], [2]);
  assert.deepEqual([...t.committed.values()].map((r) => r.uid).sort(), [1, 3, 4, 5, 6]);
  assert.deepEqual([...t.server.keys()], [2]);
});

test('unseenOnly: a batch whose commit fails is set aside whole, the cycle goes on, and the watermark passes it once flagged', async () => {
  const t = setupUnseen([1, 2, 3, 4, 5, 6], { streamed: true, failCommit: (uids) => uids.includes(3) });
  t.deps.commitEveryMessages = 2;
  const r = await runDrainCycle(t.session, t.deps);
  assert.deepEqual({ taken: r.taken, failed: r.failed }, { taken: 4, failed: 2 });
  assert.deepEqual([...t.seen].sort(), [3, 4]);
  assert.deepEqual([...t.server.keys()], [3, 4]);
  // After {5,6} the watermark stays at 2 (3 and 4 are not committed); flagged, they are passed.
  assert.ok(t.events.includes('commit 5,6 wm=2'), t.events.join(' | '));
  assert.equal(t.watermark()?.lastUid, 6);
  assert.deepEqual(
    t.errors.map((e) => [e.fields.key, e.fields.code]),
    [
      ['imap:INBOX:7:3', 'STORE_WRITE_FAILED'],
      ['imap:INBOX:7:4', 'STORE_WRITE_FAILED'],
    ],
  );
  assert.deepEqual((await t.drain()).map((x) => x.taken), [0]);
});

test('unseenOnly: two failures with nothing committed between them stop taking: both flagged, the rest untouched, the cycle fails', async () => {
  // Disk full: every put fails. Flagging the whole mailbox at full speed is not what an operator wants.
  const t = setupUnseen([1, 2, 3, 4, 5, 6], { streamed: true, failPut: () => true });
  await assert.rejects(runDrainCycle(t.session, t.deps), (err) => isMailsluiceError(err, 'STORE_WRITE_FAILED'));
  assert.deepEqual([...t.seen].sort(), [1, 2]);
  assert.equal(t.failedCount(), 2, 'counted although the cycle failed');
  assert.equal(t.committed.size, 0);
  assert.equal(t.server.size, 6);
  assert.ok(!t.events.includes('fetch 3'), `stopped taking: ${t.events.join(' | ')}`);
});

test('unseenOnly: the failures in a row are counted across the cycles of a session', async () => {
  // The metadata store is full: each cycle's one batch fails at its commit.
  const t = setupUnseen([1, 2, 3, 4, 5, 6], { streamed: true, failCommit: () => true });
  t.deps.maxMessagesPerCycle = 2;
  const first = await runDrainCycle(t.session, t.deps);
  assert.equal(first.failed, 2);
  await assert.rejects(runDrainCycle(t.session, t.deps), (err) => isMailsluiceError(err, 'STORE_WRITE_FAILED'));
  assert.deepEqual([...t.seen].sort(), [1, 2, 3, 4]);
  assert.equal(t.failedCount(), 4);
  assert.equal(t.server.size, 6);
});

test('unseenOnly: when flagging fails, nothing counts as set aside and the cycle fails, so the messages are tried again', async () => {
  const t = setupUnseen([1, 2, 3], { streamed: true, failPut: (uid) => uid === 2, failFlag: true });
  await assert.rejects(runDrainCycle(t.session, t.deps), (err) => isMailsluiceError(err, 'SOURCE_PROTOCOL'));
  assert.equal(t.seen.size, 0);
  assert.equal(t.failedCount(), 0);
  assert.equal(t.server.size, 3);
  assert.equal(t.errors.length, 1);
  assert.match(t.errors[0]!.msg, /flagging them \\Seen failed too: they stay unseen and are tried again/);
  assert.deepEqual(t.errors[0]!.fields.keys, ['imap:INBOX:7:2']);
});

test('unseenOnly: a body that breaks off is the fetch failing, not the archive: nothing is flagged', async () => {
  const t = setupUnseen([1, 2, 3], { streamed: true, cutBody: 2 });
  await assert.rejects(runDrainCycle(t.session, t.deps), (err) => isMailsluiceError(err, 'SOURCE_NETWORK'));
  assert.equal(t.seen.size, 0);
  assert.deepEqual([...t.committed.values()].map((r) => r.uid), [1], 'what was received before is committed');
});

test('without unseenOnly a failure to archive fails the cycle as before, and nothing is flagged', async () => {
  const t = setupUnseen([1, 2, 3], { streamed: true, failPut: (uid) => uid === 2, onArchiveFailure: 'retry' });
  await assert.rejects(runDrainCycle(t.session, t.deps), (err) => isMailsluiceError(err, 'STORE_WRITE_FAILED'));
  assert.equal(t.seen.size, 0);
  assert.ok(!t.events.some((e) => e.startsWith('flag')));
  assert.equal(t.committed.size, 0);
  assert.equal(t.server.size, 3);
});

test('with a pipeline, a cycle hands over its last commit: the next cycle lists above it, actions follow their commits, all in order', async () => {
  const t = setup([1, 2, 3, 4, 5, 6]);
  // The server's expunge is the slow part: commits must not wait for the actions of earlier batches.
  let releaseActions!: () => void;
  const actionsHeld = new Promise<void>((resolve) => (releaseActions = resolve));
  const apply = t.deps.source.applyServerAction.bind(t.deps.source);
  Object.assign(t.deps.source, { concurrentActions: true, applyServerAction: async (c: Candidate[]) => (await actionsHeld, apply(c)) });
  t.deps.maxMessagesPerCycle = 3;
  t.deps.commitEveryMessages = 100;
  t.deps.actions = new BatchPipeline(t.deps);
  const first = await runDrainCycle(t.session, t.deps);
  assert.deepEqual([first.listed, first.queued, first.taken], [3, 3, 0], 'the first cycle returns before its commit');
  const second = await runDrainCycle(t.session, t.deps);
  assert.equal(second.listed, 3, 'the second cycle lists above the queued commit, not messages 1-3 again');
  assert.deepEqual(t.events.filter((e) => e.startsWith('fetch')), ['fetch 1', 'fetch 2', 'fetch 3', 'fetch 4', 'fetch 5', 'fetch 6']);
  // Both commits land while the first batch's action is still held by the server.
  for (let i = 0; i < 20 && t.events.filter((e) => e.startsWith('commit')).length < 2; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(t.events.filter((e) => e.startsWith('commit')), ['commit 1,2,3 wm=3', 'commit 4,5,6 wm=6']);
  assert.equal(t.events.filter((e) => e.startsWith('action')).length, 0);
  releaseActions();
  assert.equal(await t.deps.actions.settle(), 6);
  const order = t.events.filter((e) => /^(sync|commit|action)/.test(e));
  assert.ok(order.indexOf('action 1,2,3') > order.indexOf('commit 1,2,3 wm=3') && order.indexOf('action 4,5,6') > order.indexOf('action 1,2,3'), order.join(' | '));
  assert.ok(order.indexOf('sync') < order.indexOf('commit 1,2,3 wm=3'), 'blobs synced before the first commit');
  assert.equal(t.server.size, 0);
  assert.deepEqual(t.watermark(), { uidValidity: 7, lastUid: 6 });
});

test('with a pipeline, batches committed while the server acts on one are acted on together next, in order, each only after its commit', async () => {
  const t = setup([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  let releaseActions!: () => void;
  const actionsHeld = new Promise<void>((resolve) => (releaseActions = resolve));
  const apply = t.deps.source.applyServerAction.bind(t.deps.source);
  const calls: number[][] = [];
  Object.assign(t.deps.source, {
    concurrentActions: true,
    applyServerAction: async (c: Candidate[]) => {
      calls.push(c.map((x) => x.uid!));
      await actionsHeld;
      return apply(c);
    },
  });
  t.deps.maxMessagesPerCycle = 3;
  t.deps.commitEveryMessages = 100;
  t.deps.actions = new BatchPipeline(t.deps);
  for (let i = 0; i < 3; i++) await runDrainCycle(t.session, t.deps);
  for (let i = 0; i < 20 && t.events.filter((e) => e.startsWith('commit')).length < 3; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(calls, [[1, 2, 3]], 'the first batch went as soon as it was committed, alone');
  releaseActions();
  assert.equal(await t.deps.actions.settle(), 9);
  assert.deepEqual(calls, [[1, 2, 3], [4, 5, 6, 7, 8, 9]], 'the two batches committed meanwhile went as one action');
  const order = t.events.filter((e) => /^(commit|action)/.test(e));
  assert.deepEqual(order, ['commit 1,2,3 wm=3', 'commit 4,5,6 wm=6', 'commit 7,8,9 wm=9', 'action 1,2,3', 'action 4,5,6,7,8,9']);
  assert.equal(t.server.size, 0);
  assert.equal(t.done.size, 9);
});

test('with a pipeline, a failed handed-over commit stops the commits behind it and fails the next cycle; nothing is actioned uncommitted', async () => {
  const t = setup([1, 2, 3, 4, 5, 6]);
  Object.assign(t.deps.source, { concurrentActions: true });
  t.deps.maxMessagesPerCycle = 3;
  t.deps.commitEveryMessages = 100;
  const store = t.deps.store;
  const commit = store.commitTaken.bind(store);
  let calls = 0;
  store.commitTaken = async (records, wm) => {
    if (calls++ === 0) throw new MailsluiceError('STORE_WRITE_FAILED', 'disk full');
    return commit(records, wm);
  };
  t.deps.actions = new BatchPipeline(t.deps);
  await runDrainCycle(t.session, t.deps);
  const second = runDrainCycle(t.session, t.deps).catch((err: unknown) => err);
  const outcome = await second;
  // The second cycle either failed at its start (the first commit failed already) or queued its
  // commit behind the failed one, where it is dropped: either way nothing of it is committed.
  const settled = await t.deps.actions.settle().then(() => null, (err: unknown) => err);
  const err = outcome instanceof Error ? outcome : settled;
  assert.ok(isMailsluiceError(err, 'STORE_WRITE_FAILED'), String(err));
  assert.deepEqual(t.events.filter((e) => e.startsWith('commit')), [], 'nothing committed behind the failure');
  assert.deepEqual(t.events.filter((e) => e.startsWith('action')), [], 'no server action for what was not committed');
  assert.equal(t.server.size, 6, 'every message is still on the server');
  assert.equal(t.watermark(), null);
});
