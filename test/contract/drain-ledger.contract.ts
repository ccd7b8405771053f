/**
 * The DrainLedger port's contract: what the drain cycle relies on to lose nothing and take
 * nothing twice. Every store adapter passes it (test/contract/sqlite-store.test.ts,
 * test/contract/memory-store.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha, taken, withStore, type StoreFactory } from './store-harness.js';

/** Registers the drain ledger's contract tests for the adapter `name`. */
export function runDrainLedgerContract(name: string, factory: StoreFactory): void {
  test(`${name} drain ledger: a committed batch is taken, its blobs are stored, its actions pending until marked done`, () =>
    withStore(factory, async ({ store }) => {
      assert.equal(store.hasBlob(sha(1)), false);
      assert.deepEqual(await store.lookupTaken('c', ['imap:INBOX:1:1']), new Set());
      await store.commitTaken([taken('c', 1), taken('c', 2)]);
      assert.equal(store.hasBlob(sha(1)), true);
      assert.equal(store.hasBlob(sha(3)), false);
      assert.deepEqual(await store.lookupTaken('c', ['imap:INBOX:1:1', 'imap:INBOX:1:2', 'imap:INBOX:1:3']), new Set(['imap:INBOX:1:1', 'imap:INBOX:1:2']));
      assert.deepEqual(await store.lookupTaken('other', ['imap:INBOX:1:1']), new Set(), 'keys are per connection');
      assert.deepEqual(await store.lookupSettled('c', ['imap:INBOX:1:1', 'imap:INBOX:1:2']), new Set(), 'pending actions are not settled');
      await store.markActionDone('c', ['imap:INBOX:1:2']);
      assert.deepEqual(await store.lookupSettled('c', ['imap:INBOX:1:1', 'imap:INBOX:1:2', 'imap:INBOX:1:3']), new Set(['imap:INBOX:1:2']));
      assert.deepEqual(await store.pendingActions('c', 'INBOX', 1), [{ sourceKey: 'imap:INBOX:1:1', uid: 1, uidl: null }]);
      assert.deepEqual(await store.lookupTaken('c', []), new Set());
      await store.markActionDone('c', []);
    }));

  test(`${name} drain ledger: a duplicate whose bytes were stored by a later record of the same batch commits, one message`, () =>
    withStore(factory, async ({ store }) => {
      await store.commitTaken([taken('c', 2, 7, { blob: false }), taken('c', 1, 7)]);
      assert.deepEqual(await store.lookupTaken('c', ['imap:INBOX:1:1', 'imap:INBOX:1:2']), new Set(['imap:INBOX:1:1', 'imap:INBOX:1:2']));
      const queued = await store.listUnparsed(10);
      assert.equal(queued.length, 1, 'identical bytes from one connection are one message');
      // The same bytes from another connection: its own message, the one blob.
      await store.commitTaken([taken('d', 1, 7, { blob: false })]);
      assert.equal((await store.listUnparsed(10)).length, 2);
      const s = await store.stats();
      assert.equal(s.blobs, 1);
      assert.equal(s.messages, 2);
    }));

  test(`${name} drain ledger: committing a key again changes nothing`, () =>
    withStore(factory, async ({ store }) => {
      await store.commitTaken([taken('c', 1)]);
      await store.markActionDone('c', ['imap:INBOX:1:1']);
      await store.commitTaken([taken('c', 1)]);
      assert.deepEqual(await store.lookupSettled('c', ['imap:INBOX:1:1']), new Set(['imap:INBOX:1:1']), 'still done');
      assert.equal((await store.listUnparsed(10)).length, 1);
    }));

  test(`${name} drain ledger: pending actions per mailbox and UIDVALIDITY, oldest first; an older UIDVALIDITY's are superseded`, () =>
    withStore(factory, async ({ store }) => {
      await store.commitTaken([taken('c', 9, 1), taken('c', 3, 2), taken('c', 5, 3), taken('c', 4, 4, { mailbox: 'Sent' }), taken('c', 2, 5, { uidValidity: 2 })]);
      assert.deepEqual((await store.pendingActions('c', 'INBOX', 1)).map((p) => p.uid), [3, 5, 9]);
      assert.deepEqual((await store.pendingActions('c', 'Sent', 1)).map((p) => p.sourceKey), ['imap:Sent:1:4']);
      assert.deepEqual((await store.pendingActions('c', 'INBOX', 2)).map((p) => p.uid), [2]);
      assert.deepEqual(await store.pendingActions('d', 'INBOX', 1), []);
      assert.equal(await store.supersedePending('c', 'INBOX', 2), 3, 'the three of UIDVALIDITY 1');
      assert.deepEqual(await store.pendingActions('c', 'INBOX', 1), []);
      assert.deepEqual(await store.lookupSettled('c', ['imap:INBOX:1:3', 'imap:INBOX:2:2']), new Set(['imap:INBOX:1:3']), 'superseded counts as settled');
      assert.equal((await store.pendingActions('c', 'Sent', 1)).length, 1, 'another mailbox is left alone');
      assert.equal(await store.supersedePending('c', 'INBOX', 2), 0);
      assert.equal((await store.stats()).connections['c']?.pendingActions, 2);
    }));

  test(`${name} drain ledger: the watermark is per connection and mailbox, written with a batch or alone`, () =>
    withStore(factory, async ({ store }) => {
      assert.equal(await store.getWatermark('c', 'INBOX'), null);
      await store.commitTaken([taken('c', 1)], { connection: 'c', mailbox: 'INBOX', uidValidity: 1, lastUid: 1 });
      assert.deepEqual(await store.getWatermark('c', 'INBOX'), { uidValidity: 1, lastUid: 1 });
      // Vanished messages move it without a record.
      await store.commitTaken([], { connection: 'c', mailbox: 'INBOX', uidValidity: 1, lastUid: 40 });
      assert.deepEqual(await store.getWatermark('c', 'INBOX'), { uidValidity: 1, lastUid: 40 });
      await store.commitTaken([], { connection: 'c', mailbox: 'INBOX', uidValidity: 5, lastUid: 2 });
      assert.deepEqual(await store.getWatermark('c', 'INBOX'), { uidValidity: 5, lastUid: 2 }, 'a new UIDVALIDITY starts over');
      assert.equal(await store.getWatermark('c', 'Sent'), null);
      assert.equal(await store.getWatermark('d', 'INBOX'), null);
    }));
}
