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
      assert.deepEqual(all[1], { id: ids[1], sha256: sha(2), size: taken('d', 1, 2).size, blob: taken('d', 1, 2).blob, takenAt: taken('d', 1, 2).takenAt, connection: 'd' });
      const c = [];
      for await (const x of h.store.listForExport('c')) c.push(x.id);
      assert.deepEqual(c, [ids[0], ids[2]]);
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
}
