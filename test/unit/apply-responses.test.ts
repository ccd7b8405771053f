/**
 * Server responses, the core part (core/archive/apply-responses.ts) with a fake source and the
 * in-memory reference ledger (test/reference/memory-response-ledger.ts). The ledgers themselves
 * (pending until recorded, recorded durably, cleared by a replay) are held by
 * test/contract/response-ledger.contract.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPendingResponses } from '../../src/core/archive/apply-responses.js';
import type { MailboxSource, ResponseOutcome, ResponseRequest, SourceSession } from '../../src/core/ports/mailbox-source.js';
import type { ResponseRecord, ResponseStatus } from '../../src/core/ports/response-ledger.js';
import type { Logger } from '../../src/core/ports/logger.js';
import { MemoryBus, type MemorySourceKey } from '../reference/memory-bus.js';
import { MemoryResponseLedger } from '../reference/memory-response-ledger.js';

const silent: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silent,
} as unknown as Logger;

const clock = { now: () => 1000, sleep: async () => undefined };

const session: SourceSession = { mailbox: 'INBOX', uidValidity: 7, exists: 0, capabilities: [] };

/**
 * The bus of connection `c` whose deliveries `c.r.<n>` (messages 1, 2, ... taken under these
 * source keys, UID n unless given) finished with a response to apply.
 */
async function finished(...keys: MemorySourceKey[]): Promise<MemoryBus> {
  const bus = new MemoryBus();
  for (const k of keys) bus.route(bus.take('c', k), [{ route: 'r', bus: 0 }]);
  await bus.doneMany(bus.rows.map((r) => ({ id: r.id, at: 0, response: { addFlags: ['$P'] } })));
  return bus;
}

/** How applying delivery `id`'s response ended, as recorded (undefined: no response). */
async function recorded(ledger: MemoryResponseLedger, id: string): Promise<ResponseStatus | undefined> {
  return (await ledger.responseStatuses([id])).get(id);
}

/** A ledger that accepts records and forgets them (a broken one). */
class ForgetfulLedger extends MemoryResponseLedger {
  override async recordResponses(_records: ResponseRecord[]): Promise<void> {}
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
      return reqs.map((r) => (gone.includes(r.uid!) ? { id: r.id, outcome: 'not-applicable', reason: `UID ${r.uid} is gone` } : { id: r.id, outcome: 'applied' }));
    },
  } as unknown as MailboxSource & { calls: ResponseRequest[][] };
}

test('every pending response is applied in batches and recorded; a gone UID is not applicable', async () => {
  const ledger = new MemoryResponseLedger(await finished({}, {}, {}, {}, {}));
  const source = fakeSource([4]);
  const t = await applyPendingResponses(session, { connection: 'c', source, ledger, clock, logger: silent, batch: 2 });
  assert.deepEqual(t, { applied: 4, notApplicable: 1, failed: 0 });
  assert.deepEqual(
    source.calls.map((c) => c.map((r) => r.uid)),
    [[1, 2], [3, 4], [5]],
  );
  assert.deepEqual(await recorded(ledger, 'c.r.4'), { result: 'not-applicable', note: 'UID 4 is gone', at: 1000 });
  assert.deepEqual(await recorded(ledger, 'c.r.1'), { result: 'applied', note: null, at: 1000 });
  // Nothing left: a second call does not ask the source.
  assert.deepEqual(await applyPendingResponses(session, { connection: 'c', source, ledger, clock, logger: silent }), { applied: 0, notApplicable: 0, failed: 0 });
  assert.equal(source.calls.length, 3);
});

test('a changed UIDVALIDITY, another mailbox, no UID, or a source without responses: not applicable, without asking the server', async () => {
  const ledger = new MemoryResponseLedger(await finished({ uidValidity: 6 }, { mailbox: 'Journal' }, { uid: null }, {}));
  const source = fakeSource();
  const t = await applyPendingResponses(session, { connection: 'c', source, ledger, clock, logger: silent });
  assert.deepEqual(t, { applied: 1, notApplicable: 3, failed: 0 });
  assert.deepEqual(source.calls.map((c) => c.map((r) => r.uid)), [[4]]);
  assert.match((await recorded(ledger, 'c.r.1'))!.note!, /UIDVALIDITY of "INBOX" changed \(6 when taken, 7 now\)/);
  assert.match((await recorded(ledger, 'c.r.2'))!.note!, /taken from mailbox "Journal"/);

  const pop = new MemoryResponseLedger(await finished({}));
  const noResponses = { concurrentActions: false } as unknown as MailboxSource;
  assert.deepEqual(await applyPendingResponses(session, { connection: 'c', source: noResponses, ledger: pop, clock, logger: silent }), { applied: 0, notApplicable: 1, failed: 0 });
  assert.match((await recorded(pop, 'c.r.1'))!.note!, /no flags or folders/);
});

test('a session failure records nothing (tried again later); a ledger that does not record stops instead of looping', async () => {
  const ledger = new MemoryResponseLedger(await finished({}, {}));
  await assert.rejects(applyPendingResponses(session, { connection: 'c', source: fakeSource([], new Error('connection lost')), ledger, clock, logger: silent }), /connection lost/);
  assert.equal((await ledger.pendingResponses('c', 10)).length, 2);
  assert.deepEqual(await recorded(ledger, 'c.r.1'), { result: null, note: null, at: null });

  const broken = new ForgetfulLedger(await finished({}, {}));
  await assert.rejects(applyPendingResponses(session, { connection: 'c', source: fakeSource(), ledger: broken, clock, logger: silent, batch: 2 }), (err: Error & { code?: string }) => err.code === 'INTERNAL');
});

test('a source that addresses messages by key (EWS) gets the key the message was taken under, no UID needed; another mailbox is still not applicable', async () => {
  const ews: SourceSession = { mailbox: 'INBOX', uidValidity: 0, exists: 0, capabilities: [] };
  const ledger = new MemoryResponseLedger(
    await finished({ uidValidity: 0, uid: null, key: 'ews:AAMk1=' }, { uidValidity: 0, uid: null, key: 'ews:AAMk2=', mailbox: 'Journal' }, { uidValidity: 0, uid: null, key: 'ews:AAMk3=' }),
  );
  const calls: ResponseRequest[][] = [];
  const source = {
    concurrentActions: false,
    responsesBy: 'key',
    applyResponses: async (reqs: ResponseRequest[]): Promise<ResponseOutcome[]> => {
      calls.push(reqs);
      return reqs.map((r) => (r.key === 'ews:AAMk3=' ? { id: r.id, outcome: 'not-applicable', reason: 'item gone' } : { id: r.id, outcome: 'applied' }));
    },
  } as unknown as MailboxSource;
  const t = await applyPendingResponses(ews, { connection: 'c', source, ledger, clock, logger: silent });
  assert.deepEqual(t, { applied: 1, notApplicable: 2, failed: 0 });
  assert.deepEqual(calls, [[
    { id: 'c.r.1', key: 'ews:AAMk1=', response: { addFlags: ['$P'] } },
    { id: 'c.r.3', key: 'ews:AAMk3=', response: { addFlags: ['$P'] } },
  ]]);
  assert.match((await recorded(ledger, 'c.r.2'))!.note!, /taken from mailbox "Journal"/);
  assert.deepEqual(await recorded(ledger, 'c.r.3'), { result: 'not-applicable', note: 'item gone', at: 1000 });
  // The same messages on a source that needs UIDs: none of them can be addressed.
  const byUid = new MemoryResponseLedger(await finished({ uidValidity: 0, uid: null, key: 'ews:AAMk1=' }));
  const t2 = await applyPendingResponses(ews, { connection: 'c', source: fakeSource(), ledger: byUid, clock, logger: silent });
  assert.deepEqual(t2, { applied: 0, notApplicable: 1, failed: 0 });
});
