/**
 * The RetentionStore port's contract (docs/retention.md), extracted from store-sqlite's own tests
 * so every store passes the same: why a row is busy, a batch removed with its children and its
 * audit record in one transaction (a row busy by then kept, a blob another connection's message
 * holds kept, the removed blobs known as purged to verify), purged source keys still answered as
 * taken and settled, and a journal report merged into a message keeping it while it stays.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NewDelivery } from '../../src/core/routing/route-matcher.js';
import type { PurgedMessage } from '../../src/core/ports/retention-store.js';
import { commitAndList, parsedOk, sha, taken, withRoles, type ArchiveRolesFactory } from './store-harness.js';

const entry = (purged: readonly PurgedMessage[]) => ({ at: 1, who: 'test', origin: 'test', action: 'archive.purge', detail: { ids: purged.map((p) => p.id) } });
const delivery = (id: number, route: string): NewDelivery => ({ id: `a.${route}.${id}`, messageId: id, connection: 'a', route, bus: 1, createdAt: 0 });
const key = (uid: number): string => `imap:INBOX:1:${uid}`;

/** Registers the retention store's contract tests for the adapter `name`. */
export function runRetentionStoreContract(name: string, factory: ArchiveRolesFactory): void {
  test(`${name} retention: busy rows; a batch removed whole with its record; a shared blob kept; purged keys still taken`, () =>
    withRoles(factory, async (h) => {
      // a: uids 1..5; uid 1's bytes also archived by connection b (m6).
      const [m1, m2, m3, m4, m5] = (await commitAndList(h, [1, 2, 3, 4, 5].map((n) => taken('a', n)))) as [number, number, number, number, number];
      const [m6] = (await commitAndList(h, [taken('b', 6, 1, { blob: false })])) as [number];
      // Parsed but m2; m1 and m5 delivered, m4's delivery pending; every server action done but m3's.
      await h.store.saveParsed([
        { id: m1, outcome: parsedOk(), deliveries: [delivery(m1, 'r')] },
        { id: m3, outcome: parsedOk() },
        { id: m4, outcome: parsedOk(), deliveries: [delivery(m4, 'r')] },
        { id: m5, outcome: parsedOk(), deliveries: [delivery(m5, 's')] },
        { id: m6, outcome: parsedOk() },
      ]);
      await h.deliveryDone([`a.r.${m1}`, `a.s.${m5}`]);
      await h.store.markActionDone('a', [key(1), key(2), key(4), key(5)]);
      await h.store.markActionDone('b', [key(6)]);

      const page = await h.retention.page(0, 10, { routes: true, addresses: true });
      assert.deepEqual(
        page.map((r) => [r.id, r.busy, r.routes]),
        [[m1, null, ['r']], [m2, 'pending', []], [m3, 'pending', []], [m4, 'pending', ['r']], [m5, null, ['s']], [m6, null, []]],
      );
      assert.deepEqual(page[0]!.addresses, ['ann@example.test', 'bob@example.test']);
      assert.deepEqual([page[0]!.connection, page[0]!.sha256, page[0]!.size, page[0]!.takenAt], ['a', sha(1), taken('a', 1).size, taken('a', 1).takenAt]);
      assert.deepEqual(page[1]!.addresses, [], 'not parsed: no addresses yet');
      assert.deepEqual((await h.retention.page(m4, 1, { routes: false, addresses: false })).map((r) => [r.id, r.routes, r.addresses]), [[m5, undefined, undefined]]);

      const r = await h.retention.purgeBatch([m1, m4, m5], entry);
      assert.deepEqual(r.purged.map((p) => p.id), [m1, m5]);
      assert.deepEqual(r.purged[0], { id: m1, sha256: sha(1), connection: 'a', size: taken('a', 1).size });
      assert.equal(r.keptBusy, 1);
      assert.equal(r.blobsRemoved, 1, "m1's blob stays: connection b's m6 has the same bytes");
      assert.deepEqual(JSON.parse(r.record!.detail), { ids: [m1, m5] });
      assert.equal(r.record!.action, 'archive.purge');

      assert.deepEqual((await h.check.messagesPage(0, 100)).map((m) => m.id), [m2, m3, m4, m6]);
      assert.deepEqual((await h.deliveries()).map((d) => d.id), [`a.r.${m4}`]);
      assert.deepEqual((await h.check.catalogueRowsOf([1, 2, 3, 4, 5].map(sha))).map((c) => c.sha256).sort(), [1, 2, 3, 4].map(sha));
      assert.deepEqual(await h.check.purged?.([sha(1), sha(5)]), new Set([sha(5)]), 'verify knows the removed blob was purged, not lost');
      // Taken and settled still: a message left on the server is not taken back.
      assert.deepEqual(await h.store.lookupTaken('a', [key(1), key(5), key(9)]), new Set([key(1), key(5)]));
      assert.deepEqual(await h.store.lookupSettled('a', [key(5)]), new Set([key(5)]));

      // Nothing left to remove: no record.
      const none = await h.retention.purgeBatch([m1, m5], entry);
      assert.deepEqual([none.purged.length, none.keptBusy, none.blobsRemoved, none.record], [0, 0, 0, null]);
      assert.deepEqual(await h.retention.purgeBatch([], entry), { purged: [], keptBusy: 0, blobsRemoved: 0, record: null });
      assert.equal(await h.retention.sweepSearch(), 0, 'nothing left half removed');
    }));

  test(`${name} retention: a journal report merged into another keeps it (linked) while it stays`, () =>
    withRoles(factory, async (h) => {
      const [m1, m2] = (await commitAndList(h, [taken('a', 1), taken('a', 2)])) as [number, number];
      await h.store.saveParsed([{ id: m1, outcome: parsedOk() }, { id: m2, outcome: parsedOk() }]);
      await h.store.markActionDone('a', [key(1), key(2)]);
      await h.mergeInto(m2, m1, 'orig@example.test');
      assert.deepEqual((await h.retention.page(0, 10, { routes: false, addresses: false })).map((r) => [r.id, r.busy]), [[m1, 'linked'], [m2, null]]);
      const r = await h.retention.purgeBatch([m1, m2], entry);
      assert.deepEqual([r.purged.map((p) => p.id), r.keptBusy], [[m2], 1]);
      assert.deepEqual((await h.retention.purgeBatch([m1], entry)).purged.map((p) => p.id), [m1], 'once the merged one is gone');
      assert.deepEqual(await h.check.messagesPage(0, 10), []);
      assert.deepEqual(await h.check.cataloguePage(null, 10), []);
    }));
}
