/**
 * The ArchiveIndexCheck port's contract (ADR 0031, `mailsluice verify`): the blob catalogue and
 * the archived messages read a page at a time by key (every row once, whatever the page size),
 * looked up by hash, and repair's one write: an intact blob with no row indexed again as a
 * message queued for the parse, and nothing written for a blob indexed already.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CatalogueRow } from '../../src/core/ports/archive-check.js';
import { commitAndList, sha, taken, withRoles, type ArchiveRolesFactory } from './store-harness.js';

/** Registers the archive check's contract tests for the adapter `name`. */
export function runArchiveCheckContract(name: string, factory: ArchiveRolesFactory): void {
  test(`${name} archive check: the catalogue and the messages paged by key, every row once; looked up by hash`, () =>
    withRoles(factory, async (h) => {
      const ids = await commitAndList(h, [taken('c', 1), taken('c', 2), taken('c', 3)]);
      const [dup] = await commitAndList(h, [taken('d', 9, 2, { blob: false })]);
      const catalogue: CatalogueRow[] = [];
      for (let after: string | null = null; ; ) {
        const page = await h.check.cataloguePage(after, 2);
        catalogue.push(...page);
        if (page.length < 2) break;
        after = page[page.length - 1]!.sha256;
      }
      assert.deepEqual(catalogue.map((r) => r.sha256), [1, 2, 3].map(sha), 'in SHA-256 order');
      const t = taken('c', 1);
      assert.deepEqual(catalogue[0], { sha256: sha(1), ref: t.blob!.ref, size: t.size, storedSize: t.blob!.storedSize });
      const first = await h.check.messagesPage(0, 2);
      assert.deepEqual(first[0], { id: ids[0], sha256: sha(1), connection: 'c', messageId: null, subject: null });
      assert.deepEqual([...first, ...(await h.check.messagesPage(first[1]!.id, 2))].map((m) => m.id), [...ids, dup]);
      assert.deepEqual((await h.check.catalogueRowsOf([sha(3), sha(7)])).map((r) => r.sha256), [sha(3)]);
      assert.deepEqual(await h.check.catalogueRowsOf([]), []);
      assert.deepEqual((await h.check.messagesOf([sha(2)])).map((m) => [m.id, m.connection]), [[ids[1], 'c'], [dup, 'd']]);
      assert.deepEqual(await h.check.purged?.([sha(1)]), new Set());
    }));

  test(`${name} archive check: repair indexes an orphan blob as a message queued for the parse, once`, () =>
    withRoles(factory, async (h) => {
      const [a] = await commitAndList(h, [taken('c', 1)]);
      const orphan: CatalogueRow = { sha256: sha(42), ref: 'pack-00000002:0:50', size: 80, storedSize: 50 };
      const id = await h.check.reindex(orphan, 'recovered', 1_800_000_000_000);
      assert.ok(id !== null && id > a!, `a new message row (${id})`);
      assert.deepEqual(await h.check.catalogueRowsOf([sha(42)]), [orphan]);
      const queued = (await h.store.listUnparsed(10)).find((m) => m.id === id);
      assert.deepEqual(queued, { id, connection: 'recovered', sha256: sha(42), size: 80, blob: { ref: orphan.ref, storedSize: 50 } });
      assert.equal(await h.check.reindex(orphan, 'recovered', 1_800_000_000_001), null, 'indexed already: nothing written');
      assert.equal(await h.check.reindex({ sha256: sha(1), ref: 'x', size: 1, storedSize: 1 }, 'recovered', 1), null, 'a blob with its row and message');
      assert.equal((await h.check.messagesPage(0, 10)).length, 2);
    }));
}
