/**
 * The ResponseLedger port's contract: what the connection runner (`core/archive/apply-responses.ts`)
 * and `deliveries list` rely on, which every ledger adapter (SQLite, the in-memory reference) must
 * pass. The responses come from the bus (`doneMany`, `deadLetter`, cleared by `replay`), so the
 * harness is the bus contract's: both ports over one storage.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { queued, type BusHarness } from './message-bus.contract.js';

/** Runs every case of the contract against the harness `open` builds. */
export function runResponseLedgerContract(name: string, open: () => Promise<BusHarness>): void {
  const it = (title: string, fn: (h: BusHarness) => Promise<void>): void => {
    test(`${name} response ledger contract: ${title}`, async () => {
      const h = await open();
      try {
        await fn(h);
      } finally {
        await h.close();
      }
    });
  };

  it('a finished delivery with a response is pending until recorded; recorded it survives a reopen; a replay clears it', async (h) => {
    const [a, b, c] = (await queued(h, 'c', 3, [{ route: 'r', bus: 0 }])).map((id) => `c.r.${id}`) as [string, string, string];
    assert.deepEqual(await h.ledger.pendingResponses('c', 10), [], 'pending deliveries have no response yet');
    await h.bus.doneMany([{ id: a, at: 5, response: { addFlags: ['$P'] } }]);
    await h.bus.doneMany([{ id: b, at: 5, response: null }]);
    await h.bus.deadLetter(c, 0, 1, 6, 'ACTION_REJECTED: 400', { moveTo: 'Failed' });
    const p = await h.ledger.pendingResponses('c', 10);
    assert.deepEqual(
      p.map((x) => [x.deliveryId, x.state, x.response, x.mailbox, x.uidValidity, x.uid]),
      [
        [a, 'done', { addFlags: ['$P'] }, 'INBOX', 7, 1],
        [c, 'dead', { moveTo: 'Failed' }, 'INBOX', 7, 3],
      ],
    );
    assert.deepEqual(await h.ledger.pendingResponses('other', 10), []);
    // A connection with several folders asks per folder: another folder's UIDs mean nothing here.
    assert.deepEqual(
      (await h.ledger.pendingResponses('c', 10, 'INBOX')).map((x) => x.deliveryId),
      [a, c],
    );
    assert.deepEqual(await h.ledger.pendingResponses('c', 10, 'Journal'), []);
    await h.ledger.recordResponses(
      [
        { deliveryId: a, result: 'applied', note: null },
        { deliveryId: c, result: 'not-applicable', note: 'UID 3 is no longer in "INBOX"' },
      ],
      9,
    );
    assert.deepEqual(await h.ledger.pendingResponses('c', 10), []);

    await h.reopen();
    assert.deepEqual(await h.ledger.pendingResponses('c', 10), [], 'recorded durably');
    const st = await h.ledger.responseStatuses([a, b, c]);
    assert.deepEqual(st.get(a), { result: 'applied', note: null, at: 9 });
    assert.deepEqual(st.get(c), { result: 'not-applicable', note: 'UID 3 is no longer in "INBOX"', at: 9 });
    assert.equal(st.has(b), false, 'no response, no status');

    // Replayed and done again: the new response is pending again.
    assert.deepEqual(await h.bus.replay({ ids: [c] }, 10), [c]);
    assert.deepEqual(await h.ledger.pendingResponses('c', 10), []);
    assert.equal((await h.ledger.responseStatuses([c])).has(c), false, 'a replayed delivery has no response until it ends again');
    await h.bus.doneMany([{ id: c, at: 11, response: { addFlags: ['$Later'] } }]);
    assert.deepEqual(
      (await h.ledger.pendingResponses('c', 10)).map((x) => [x.deliveryId, x.response]),
      [[c, { addFlags: ['$Later'] }]],
    );
    assert.deepEqual((await h.ledger.responseStatuses([c])).get(c), { result: null, note: null, at: null }, 'waiting to be applied');
  });

  it('pending responses come in message order, at most the limit, each with the source key its message was taken under', async (h) => {
    const ids = await h.take('c', [
      { mailbox: 'INBOX', uidValidity: 7, uid: 10 },
      { mailbox: 'Journal', uidValidity: 3, uid: 11 },
      { mailbox: 'INBOX', uidValidity: 7, uid: null, uidl: 'u-12' },
      { mailbox: 'INBOX', uidValidity: 8, uid: 13 },
      // EWS: no UID, the ItemId is the key.
      { mailbox: 'INBOX', uidValidity: 0, uid: null, key: 'ews:AAMkAD+/14=' },
    ]);
    await h.route(ids.map((id) => ({ id, connection: 'c', routes: [{ route: 'r', bus: 0 }, { route: 's', bus: 1 }] })));
    // Recorded newest first: the order is the messages', not the recording's.
    for (const id of [...ids].reverse()) await h.bus.doneMany([{ id: `c.s.${id}`, at: 1, response: { addFlags: ['$S'] } }, { id: `c.r.${id}`, at: 1, response: { addFlags: ['$R'] } }]);
    const all = await h.ledger.pendingResponses('c', 100);
    assert.deepEqual(
      all.map((x) => [x.deliveryId, x.messageId, x.state, x.mailbox, x.uidValidity, x.uid, x.key]),
      ids.flatMap((id, i) => {
        const k = [
          ['INBOX', 7, 10, 'imap:INBOX:7:10'],
          ['Journal', 3, 11, 'imap:Journal:3:11'],
          ['INBOX', 7, null, 'pop3:u-12'],
          ['INBOX', 8, 13, 'imap:INBOX:8:13'],
          ['INBOX', 0, null, 'ews:AAMkAD+/14='],
        ][i]!;
        return [
          [`c.r.${id}`, id, 'done', ...k],
          [`c.s.${id}`, id, 'done', ...k],
        ];
      }),
    );
    assert.deepEqual(
      (await h.ledger.pendingResponses('c', 3)).map((x) => x.deliveryId),
      all.slice(0, 3).map((x) => x.deliveryId),
    );
    assert.deepEqual(
      (await h.ledger.pendingResponses('c', 10, 'Journal')).map((x) => x.deliveryId),
      [`c.r.${ids[1]}`, `c.s.${ids[1]}`],
    );
    // Recording what has no response changes nothing.
    await h.ledger.recordResponses([{ deliveryId: 'c.none.1', result: 'applied', note: null }], 2);
    await h.ledger.recordResponses([{ deliveryId: `c.r.${ids[0]}`, result: 'failed', note: 'NO [CANNOT] refused' }], 3);
    assert.equal((await h.ledger.pendingResponses('c', 100)).length, 9);
    assert.deepEqual((await h.ledger.responseStatuses([`c.r.${ids[0]}`, 'c.none.1'])).get(`c.r.${ids[0]}`), { result: 'failed', note: 'NO [CANNOT] refused', at: 3 });
    assert.equal((await h.ledger.responseStatuses(['c.none.1'])).size, 0);
  });
}
