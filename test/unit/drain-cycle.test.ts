/**
 * The drain cycle's ordering guarantees, with recording fakes: blobs synced before the commit,
 * the server action only after the commit, the watermark never past an uncommitted message,
 * and what was received before a fetch error still committed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { runDrainCycle, recoverPendingActions, type DrainDeps } from '../../src/core/archive/drain-cycle.js';
import type { Candidate, FetchedMessage, MailboxSource, SourceSession } from '../../src/core/ports/mailbox-source.js';
import type { BlobWriter, PutResult } from '../../src/core/ports/blob-store.js';
import type { MessageStore, TakenRecord, MailboxWatermark, PendingAction } from '../../src/core/ports/message-store.js';
import type { Logger } from '../../src/core/ports/logger.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

function setup(uids: number[], opts: { failAfter?: number } = {}) {
  const events: string[] = [];
  const server = new Map(uids.map((u) => [u, Buffer.from(`message ${u}\r\n`)]));
  const session: SourceSession = { mailbox: 'INBOX', uidValidity: 7, exists: uids.length, capabilities: [] };
  const key = (u: number): string => `imap:INBOX:7:${u}`;
  const source: MailboxSource = {
    concurrentActions: false,
    async open() {
      return session;
    },
    async listCandidates(limit, after) {
      return [...server.keys()].filter((u) => u > (after?.lastUid ?? 0)).sort((a, b) => a - b).slice(0, limit).map((uid) => ({ key: key(uid), uid, size: 10 }));
    },
    async *fetch(cands: Candidate[]): AsyncIterable<FetchedMessage> {
      let n = 0;
      for (const c of cands) {
        if (opts.failAfter !== undefined && n++ >= opts.failAfter) throw new Error('connection cut');
        const body = server.get(c.uid!);
        if (!body) continue;
        events.push(`fetch ${c.uid}`);
        yield { candidate: c, body: (async function* () { yield body; })(), buffered: true };
      }
    },
    async applyServerAction(cands) {
      events.push(`action ${cands.map((c) => c.uid).join(',')}`);
      for (const c of cands) server.delete(c.uid!);
      return cands;
    },
    async flush() {
      return [];
    },
    async waitForChange() {},
    async close() {},
  };
  const blobs = new Set<string>();
  const writer: BlobWriter = {
    async put(body): Promise<PutResult> {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(Buffer.from(c));
      const raw = Buffer.concat(chunks);
      const sha256 = createHash('sha256').update(raw).digest('hex');
      events.push(`put ${sha256.slice(0, 6)}`);
      return { sha256, size: raw.length, location: { ref: sha256, storedSize: raw.length } };
    },
    async sync() {
      events.push('sync');
    },
    async recompress() {
      throw new Error('not used by the drain cycle');
    },
    async close() {},
  };
  const committed = new Map<string, TakenRecord>();
  const done = new Set<string>();
  let wm: MailboxWatermark | null = null;
  const store: Partial<MessageStore> = {
    hasBlob: (sha) => blobs.has(sha),
    async lookupTaken(_c, keys) {
      return new Set(keys.filter((k) => committed.has(k)));
    },
    async lookupSettled(_c, keys) {
      return new Set(keys.filter((k) => committed.has(k) && done.has(k)));
    },
    async commitTaken(records, watermark) {
      events.push(`commit ${records.map((r) => r.uid).join(',')} wm=${watermark?.lastUid}`);
      for (const r of records) {
        committed.set(r.sourceKey, r);
        blobs.add(r.sha256);
      }
      if (watermark) wm = { uidValidity: watermark.uidValidity, lastUid: watermark.lastUid };
    },
    async markActionDone(_c, keys) {
      for (const k of keys) done.add(k);
    },
    async getWatermark() {
      return wm;
    },
    async pendingActions(): Promise<PendingAction[]> {
      return [...committed.values()].filter((r) => !done.has(r.sourceKey)).map((r) => ({ sourceKey: r.sourceKey, uid: r.uid, uidl: null }));
    },
    async supersedePending() {
      return 0;
    },
  };
  const deps: DrainDeps = {
    connection: 'c',
    source,
    store: store as MessageStore,
    blobs: writer,
    clock: { now: () => 0, sleep: async () => {} },
    logger: silent,
    maxMessagesPerCycle: 100,
    commitEveryMessages: 2,
  };
  return { events, server, session, deps, committed, done, watermark: () => wm };
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
