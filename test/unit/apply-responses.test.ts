/**
 * Server responses, the core part (core/archive/apply-responses.ts) with a fake source and an
 * in-memory ledger; and the ledger on SQLite (store-sqlite/sqlite-bus.ts): pending until recorded,
 * recorded durably, cleared by a replay.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPendingResponses } from '../../src/core/archive/apply-responses.js';
import type { MailboxSource, ResponseOutcome, ResponseRequest, SourceSession } from '../../src/core/ports/mailbox-source.js';
import type { PendingResponse, ResponseLedger, ResponseRecord } from '../../src/core/ports/response-ledger.js';
import type { Logger } from '../../src/core/ports/logger.js';
import { createSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import type { TakenRecord } from '../../src/core/ports/message-store.js';

const silent: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silent,
} as unknown as Logger;

const clock = { now: () => 1000, sleep: async () => undefined };

const session: SourceSession = { mailbox: 'INBOX', uidValidity: 7, exists: 0, capabilities: [] };

class MemoryLedger implements ResponseLedger {
  readonly recorded = new Map<string, ResponseRecord>();
  /** When false, records are accepted and forgotten (a broken ledger). */
  keeps = true;
  constructor(readonly pending: PendingResponse[]) {}
  async pendingResponses(connection: string, limit: number, mailbox?: string): Promise<PendingResponse[]> {
    return this.pending
      .filter((p) => p.deliveryId.startsWith(`${connection}.`) && !this.recorded.has(p.deliveryId) && (mailbox === undefined || p.mailbox === mailbox))
      .slice(0, limit);
  }
  async recordResponses(records: ResponseRecord[]): Promise<void> {
    if (this.keeps) for (const r of records) this.recorded.set(r.deliveryId, r);
  }
}

function pending(n: number, over: Partial<PendingResponse> = {}): PendingResponse {
  return { deliveryId: `c.r.${n}`, messageId: n, state: 'done', response: { addFlags: ['$P'] }, mailbox: 'INBOX', uidValidity: 7, uid: n, ...over };
}

/** A source that applies everything, except UIDs in `gone` (not applicable); records its calls. */
function fakeSource(gone: number[] = [], fail?: Error): MailboxSource & { calls: ResponseRequest[][] } {
  const calls: ResponseRequest[][] = [];
  return {
    calls,
    concurrentActions: true,
    applyResponses: async (reqs: ResponseRequest[]): Promise<ResponseOutcome[]> => {
      calls.push(reqs);
      if (fail) throw fail;
      return reqs.map((r) => (gone.includes(r.uid) ? { id: r.id, outcome: 'not-applicable', reason: `UID ${r.uid} is gone` } : { id: r.id, outcome: 'applied' }));
    },
  } as unknown as MailboxSource & { calls: ResponseRequest[][] };
}

test('every pending response is applied in batches and recorded; a gone UID is not applicable', async () => {
  const ledger = new MemoryLedger([1, 2, 3, 4, 5].map((n) => pending(n)));
  const source = fakeSource([4]);
  const t = await applyPendingResponses(session, { connection: 'c', source, ledger, clock, logger: silent, batch: 2 });
  assert.deepEqual(t, { applied: 4, notApplicable: 1, failed: 0 });
  assert.deepEqual(
    source.calls.map((c) => c.map((r) => r.uid)),
    [[1, 2], [3, 4], [5]],
  );
  assert.deepEqual(ledger.recorded.get('c.r.4'), { deliveryId: 'c.r.4', result: 'not-applicable', note: 'UID 4 is gone' });
  assert.deepEqual(ledger.recorded.get('c.r.1'), { deliveryId: 'c.r.1', result: 'applied', note: null });
  // Nothing left: a second call does not ask the source.
  assert.deepEqual(await applyPendingResponses(session, { connection: 'c', source, ledger, clock, logger: silent }), { applied: 0, notApplicable: 0, failed: 0 });
  assert.equal(source.calls.length, 3);
});

test('a changed UIDVALIDITY, another mailbox, no UID, or a source without responses: not applicable, without asking the server', async () => {
  const ledger = new MemoryLedger([pending(1, { uidValidity: 6 }), pending(2, { mailbox: 'Journal' }), pending(3, { uid: null }), pending(4)]);
  const source = fakeSource();
  const t = await applyPendingResponses(session, { connection: 'c', source, ledger, clock, logger: silent });
  assert.deepEqual(t, { applied: 1, notApplicable: 3, failed: 0 });
  assert.deepEqual(source.calls.map((c) => c.map((r) => r.uid)), [[4]]);
  assert.match(ledger.recorded.get('c.r.1')!.note!, /UIDVALIDITY of "INBOX" changed \(6 when taken, 7 now\)/);
  assert.match(ledger.recorded.get('c.r.2')!.note!, /taken from mailbox "Journal"/);

  const pop = new MemoryLedger([pending(1)]);
  const noResponses = { concurrentActions: false } as unknown as MailboxSource;
  assert.deepEqual(await applyPendingResponses(session, { connection: 'c', source: noResponses, ledger: pop, clock, logger: silent }), { applied: 0, notApplicable: 1, failed: 0 });
  assert.match(pop.recorded.get('c.r.1')!.note!, /no flags or folders/);
});

test('a session failure records nothing (tried again later); a ledger that does not record stops instead of looping', async () => {
  const ledger = new MemoryLedger([pending(1), pending(2)]);
  await assert.rejects(applyPendingResponses(session, { connection: 'c', source: fakeSource([], new Error('connection lost')), ledger, clock, logger: silent }), /connection lost/);
  assert.equal(ledger.recorded.size, 0);

  const broken = new MemoryLedger([pending(1), pending(2)]);
  broken.keeps = false;
  await assert.rejects(applyPendingResponses(session, { connection: 'c', source: fakeSource(), ledger: broken, clock, logger: silent, batch: 2 }), (err: Error & { code?: string }) => err.code === 'INTERNAL');
});

const taken = (i: number, uidValidity = 7): TakenRecord => ({
  connection: 'c',
  sourceKey: `imap:INBOX:${uidValidity}:${i}`,
  mailbox: 'INBOX',
  uidValidity,
  uid: i,
  uidl: null,
  sha256: String(i).padStart(64, '0'),
  size: 10,
  blob: { ref: `pack-00000001:${i}:10`, storedSize: 10 },
  takenAt: 0,
});

test('sqlite: a finished delivery with a response is pending until recorded; recorded it survives a reopen; a replay clears it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-responses-'));
  const file = join(dir, 'archive.db');
  let store = createSqliteStore({ file });
  try {
    await store.commitTaken([taken(1), taken(2), taken(3)]);
    const msgs = await store.listUnparsed(10);
    const attrs = { From: null, To: [], Cc: [], Bcc: [], Subject: 's', ReceivedDate: null, GlobalMessageId: '', InReplyTo: '', References: [], TextBody: '', HtmlBody: '', Attachments: [], CustomHeaders: [] };
    await store.saveParsed(
      msgs.map((m) => ({
        id: m.id,
        outcome: { ok: true as const, attributes: attrs as never },
        deliveries: [{ id: `c.r.${m.id}`, messageId: m.id, connection: 'c', route: 'r', bus: 0, createdAt: 0 }],
      })),
    );
    const [a, b, c] = msgs.map((m) => `c.r.${m.id}`) as [string, string, string];
    let bus = store.bus();
    assert.deepEqual(await bus.pendingResponses('c', 10), [], 'pending deliveries have no response yet');
    await bus.doneMany([{ id: a, at: 5, response: { addFlags: ['$P'] } }]);
    await bus.doneMany([{ id: b, at: 5, response: null }]);
    await bus.deadLetter(c, 0, 1, 6, 'ACTION_REJECTED: 400', { moveTo: 'Failed' });
    const p = await bus.pendingResponses('c', 10);
    assert.deepEqual(
      p.map((x) => [x.deliveryId, x.state, x.response, x.mailbox, x.uidValidity, x.uid]),
      [
        [a, 'done', { addFlags: ['$P'] }, 'INBOX', 7, 1],
        [c, 'dead', { moveTo: 'Failed' }, 'INBOX', 7, 3],
      ],
    );
    assert.deepEqual(await bus.pendingResponses('other', 10), []);
    // A connection with several folders asks per folder: another folder's UIDs mean nothing here.
    assert.deepEqual((await bus.pendingResponses('c', 10, 'INBOX')).map((x) => x.deliveryId), [a, c]);
    assert.deepEqual(await bus.pendingResponses('c', 10, 'Journal'), []);
    await bus.recordResponses(
      [
        { deliveryId: a, result: 'applied', note: null },
        { deliveryId: c, result: 'not-applicable', note: 'UID 3 is no longer in "INBOX"' },
      ],
      9,
    );
    assert.deepEqual(await bus.pendingResponses('c', 10), []);

    await store.close();
    store = createSqliteStore({ file });
    bus = store.bus();
    assert.deepEqual(await bus.pendingResponses('c', 10), [], 'recorded durably');
    const st = await bus.responseStatuses([a, b, c]);
    assert.deepEqual(st.get(a), { result: 'applied', note: null, at: 9 });
    assert.deepEqual(st.get(c), { result: 'not-applicable', note: 'UID 3 is no longer in "INBOX"', at: 9 });
    assert.equal(st.has(b), false, 'no response, no status');

    // Replayed and done again: the new response is pending again.
    assert.deepEqual(await bus.replay({ ids: [c] }, 10), [c]);
    assert.deepEqual(await bus.pendingResponses('c', 10), []);
    await bus.doneMany([{ id: c, at: 11, response: { addFlags: ['$Later'] } }]);
    assert.deepEqual((await bus.pendingResponses('c', 10)).map((x) => [x.deliveryId, x.response]), [[c, { addFlags: ['$Later'] }]]);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
