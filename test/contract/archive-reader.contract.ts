/**
 * The ArchiveReader port's contract: `findArchived` (by ArchiveId, the attachments once parsed),
 * the export listing and `stats`. Every store adapter passes it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commitAndList, parsedOk, sha, taken, withStore, type StoreFactory } from './store-harness.js';

const PDF = { Name: 'q1.pdf', Extension: 'pdf', ContentType: 'application/pdf', Size: 3, Sha256: 'a'.repeat(64) };

/** Registers the archive reader's contract tests for the adapter `name`. */
export function runArchiveReaderContract(name: string, factory: StoreFactory): void {
  test(`${name} archive reader: findArchived answers the blob, and its attachments once parsed`, () =>
    withStore(factory, async (h) => {
      assert.equal(await h.store.findArchived(sha(1)), null);
      const [a] = await commitAndList(h, [taken('c', 1)]);
      assert.deepEqual(await h.store.findArchived(sha(1)), { sha256: sha(1), size: taken('c', 1).size, blob: taken('c', 1).blob, attachments: null }, 'null while it waits to be parsed');
      await h.store.saveParsed([{ id: a!, outcome: parsedOk({ Attachments: [PDF] }) }]);
      assert.deepEqual((await h.store.findArchived(sha(1)))?.attachments, [PDF]);
      // The same bytes taken by another connection, not parsed there yet: the parsed row answers.
      await h.store.commitTaken([taken('d', 1, 1, { blob: false })]);
      assert.deepEqual((await h.store.findArchived(sha(1)))?.attachments, [PDF]);
      assert.equal(await h.store.findArchived(sha(2)), null);
    }));

  test(`${name} archive reader: every message is exported oldest first, or one connection's`, () =>
    withStore(factory, async (h) => {
      const ids = await commitAndList(h, [taken('c', 1), taken('d', 1, 2), taken('c', 2, 3)]);
      const all = [];
      for await (const x of h.store.listForExport()) all.push(x);
      assert.deepEqual(all.map((x) => x.id), ids);
      const d = taken('d', 1, 2);
      assert.deepEqual(all[1], { id: ids[1], sha256: sha(2), size: d.size, blob: d.blob, takenAt: d.takenAt, connection: 'd', mailbox: 'INBOX', from: '', date: null, messageId: null });
      const c = [];
      for await (const x of h.store.listForExport('c')) c.push(x.id);
      assert.deepEqual(c, [ids[0], ids[2]]);
    }));

  test(`${name} archive reader: exportItemsOf answers the ids in the order given, with what the parse found, leaving out unknown ids`, () =>
    withStore(factory, async (h) => {
      const ids = await commitAndList(h, [taken('c', 1), taken('c', 2, 2, { mailbox: 'Journal' }), taken('d', 1, 3)]);
      await h.store.saveParsed([
        { id: ids[1]!, outcome: parsedOk({ From: { Name: 'Bob', Address: 'bob@example.test' }, GlobalMessageId: 'm2@example.test', ReceivedDate: '2026-01-02T03:04:05.000Z' }) },
        { id: ids[2]!, outcome: parsedOk({ GlobalMessageId: '' }) },
      ]);
      assert.deepEqual(await h.store.exportItemsOf([]), []);
      const items = await h.store.exportItemsOf([ids[2]!, 999_999, ids[1]!, ids[0]!]);
      assert.deepEqual(items.map((x) => x.id), [ids[2], ids[1], ids[0]], 'in the order asked; an unknown id left out');
      const two = taken('c', 2, 2, { mailbox: 'Journal' });
      assert.deepEqual(items[1], { id: ids[1], sha256: sha(2), size: two.size, blob: two.blob, takenAt: two.takenAt, connection: 'c', mailbox: 'Journal', from: items[1]!.from, date: '2026-01-02T03:04:05.000Z', messageId: 'm2@example.test' });
      assert.match(items[1]!.from, /bob@example\.test/);
      assert.equal(items[0]!.messageId, null, 'no Message-ID: null, not ""');
      assert.deepEqual([items[2]!.messageId, items[2]!.date, items[2]!.from], [null, null, ''], 'not parsed yet');
    }));

  test(`${name} archive reader: stats count messages, bytes, blobs, the parse state and pending actions per connection`, () =>
    withStore(factory, async (h) => {
      const empty = await h.store.stats();
      assert.deepEqual(empty, { messages: 0, bytes: 0, blobs: 0, storedBytes: 0, unparsed: 0, unparsable: 0, journalMerged: 0, connections: {} });
      const [a, b] = await commitAndList(h, [taken('c', 1), taken('c', 2)]);
      await h.store.commitTaken([taken('d', 1, 1, { blob: false })]);
      await h.store.markActionDone('c', ['imap:INBOX:1:1']);
      await h.store.saveParsed([{ id: a!, outcome: parsedOk() }, { id: b!, outcome: { ok: false, code: 'PARSE_TIMEOUT', reason: 'slow' } }]);
      const s1 = taken('c', 1).size;
      const s2 = taken('c', 2).size;
      assert.deepEqual(await h.store.stats(), {
        messages: 3,
        bytes: s1 + s2 + s1,
        blobs: 2,
        storedBytes: s1 + s2,
        unparsed: 1,
        unparsable: 1,
        journalMerged: 0,
        connections: {
          c: { messages: 2, bytes: s1 + s2, pendingActions: 1, journalMerged: 0 },
          d: { messages: 1, bytes: s1, pendingActions: 1, journalMerged: 0 },
        },
      });
    }));

  test(`${name} archive reader: takenPerBucket counts messages and bytes per connection and bucket, by the time taken, in the window only`, () =>
    withStore(factory, async (h) => {
      assert.deepEqual(await h.store.takenPerBucket(0, Number.MAX_SAFE_INTEGER, 60_000), []);
      // taken(c, uid, n) is taken at T0 + n ms: n = 1, 2 and 3 in one 10-ms bucket, 25 in the next.
      await commitAndList(h, [taken('c', 1), taken('c', 2), taken('d', 1, 3), taken('c', 3, 25)]);
      const T0 = 1_700_000_000_000;
      const start = (n: number): number => Math.floor((T0 + n) / 10) * 10;
      const sorted = (b: Awaited<ReturnType<typeof h.store.takenPerBucket>>) => [...b].sort((x, y) => x.start - y.start || (x.connection < y.connection ? -1 : 1));
      assert.deepEqual(sorted(await h.store.takenPerBucket(T0, T0 + 100, 10)), [
        { connection: 'c', start: start(1), messages: 2, bytes: taken('c', 1).size + taken('c', 2).size },
        { connection: 'd', start: start(3), messages: 1, bytes: taken('d', 1, 3).size },
        { connection: 'c', start: start(25), messages: 1, bytes: taken('c', 3, 25).size },
      ]);
      // `since` inclusive, `until` exclusive.
      assert.deepEqual(sorted(await h.store.takenPerBucket(T0 + 2, T0 + 25, 10)), [
        { connection: 'c', start: start(2), messages: 1, bytes: taken('c', 2).size },
        { connection: 'd', start: start(3), messages: 1, bytes: taken('d', 1, 3).size },
      ]);
      assert.deepEqual(await h.store.takenPerBucket(T0 + 26, T0 + 1000, 10), []);
    }));
}
