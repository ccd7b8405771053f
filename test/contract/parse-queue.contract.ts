/**
 * The ParseQueue port's contract: the queue's order, saving parse results with their deliveries
 * (the outbox), and the merge of bifurcated journal reports (docs/journal-reports.md,
 * "Bifurcation") as core/message/journal-merge.ts plans it. Every store adapter passes it.
 */
import { textQuery } from '../harness/search-text.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NewDelivery } from '../../src/core/routing/route-matcher.js';
import { toParsedRecord } from '../../src/core/message/parsed-record.js';
import type { ParseOutcome } from '../../src/core/message/parse-outcome.js';
import { commitAndList, journalReport, parsedOk, taken, withStore, type StoreFactory } from './store-harness.js';

const NOW = 1_700_000_000_000;
const SETTLE = 500;

/** The delivery of message `id` on `route` of connection `c`, created at NOW. */
const delivery = (id: number, route: string, connection = 'c'): NewDelivery => ({ id: `${connection}.${route}.${id}`, messageId: id, connection, route, bus: 0, createdAt: NOW });

/** Report a: bob and carol as addressed; report b: dave as a blind copy (only b's envelope lists him). */
const reportA = (): ParseOutcome => journalReport([{ Address: 'bob@contoso.example', Kind: 'To' }, { Address: 'carol@contoso.example', Kind: 'Cc' }]);
const reportB = (opts: { sender?: string } = {}): ParseOutcome =>
  journalReport([{ Address: 'bob@contoso.example', Kind: 'To' }, { Address: 'dave@contoso.example', Kind: 'Bcc' }], opts);

/**
 * Registers the parse queue's contract tests for the adapter `name`. `todo.fullText` (an adapter
 * whose full-text search is not built yet) marks the two tests that search by text as todo: they
 * still run and report, but do not fail the run.
 */
export function runParseQueueContract(name: string, factory: StoreFactory, todo: { fullText?: string } = {}): void {
  const textTodo = todo.fullText ? { todo: todo.fullText } : {};
  test(`${name} parse queue: committed messages wait in commit order, paged by id; saved ones leave the queue`, () =>
    withStore(factory, async (h) => {
      const ids = await commitAndList(h, [taken('c', 1), taken('d', 1, 2), taken('c', 2, 3)]);
      assert.equal(ids.length, 3);
      assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'ids follow the commit order');
      const [first] = await h.store.listUnparsed(1);
      assert.deepEqual(first, { id: ids[0], connection: 'c', sha256: taken('c', 1).sha256, size: taken('c', 1).size, blob: taken('c', 1).blob });
      assert.deepEqual((await h.store.listUnparsed(10, ids[0])).map((m) => m.id), ids.slice(1));
      assert.equal(await h.store.countUnparsed(), 3);
      await h.store.saveParsed([{ id: ids[1]!, outcome: parsedOk() }, { id: ids[0]!, outcome: { ok: false, code: 'PARSE_FAILED', reason: 'garbled' } }]);
      assert.deepEqual((await h.store.listUnparsed(10)).map((m) => m.id), [ids[2]]);
      assert.equal(await h.store.countUnparsed(), 1);
      const s = await h.store.stats();
      assert.equal(s.unparsed, 1);
      assert.equal(s.unparsable, 1);
    }));

  test(`${name} parse queue: deliveries are queued with the result, once, due at once for plain mail`, () =>
    withStore(factory, async (h) => {
      const [a, b] = await commitAndList(h, [taken('c', 1), taken('c', 2)]);
      await h.store.saveParsed([{ id: a!, outcome: parsedOk(), deliveries: [delivery(a!, 'all'), delivery(a!, 'hooks')] }, { id: b!, outcome: toParsedRecord(parsedOk()) }]);
      const d = await h.deliveries();
      assert.deepEqual(d.map((x) => [x.id, x.messageId, x.route]), [[`c.all.${a}`, a, 'all'], [`c.hooks.${a}`, a, 'hooks']]);
      for (const x of d) assert.equal(x.dueAt, x.createdAt, 'mail that is no journal report is never held');
      // Parsed again (a crash before the parse stage moved on): nothing is queued twice.
      await h.store.saveParsed([{ id: a!, outcome: parsedOk(), deliveries: [delivery(a!, 'all')] }]);
      assert.equal((await h.deliveries()).length, 2);
    }));

  test(`${name} parse queue: an outcome and its record save the same message`, textTodo, () =>
    withStore(factory, async (h) => {
      const [a, b] = await commitAndList(h, [taken('c', 1), taken('c', 2)]);
      const outcome = parsedOk({ Subject: 'Same thing', Attachments: [{ Name: 'x.pdf', Extension: 'pdf', ContentType: 'application/pdf', Size: 3, Sha256: 'f'.repeat(64) }] });
      await h.store.saveParsed([{ id: a!, outcome }, { id: b!, outcome: toParsedRecord(outcome) }]);
      const hits = await h.store.search({ query: textQuery('same thing') });
      assert.deepEqual(hits.map((x) => x.id).sort(), [a, b].sort());
      assert.deepEqual(hits[0]!.subject, hits[1]!.subject);
      assert.deepEqual(await h.store.findArchived(taken('c', 1).sha256).then((m) => m?.attachments), await h.store.findArchived(taken('c', 2).sha256).then((m) => m?.attachments));
    }));

  test(`${name} parse queue: two reports of one original saved in one group become one message; the later one's routes go to the primary`, textTodo, () =>
    withStore(factory, async (h) => {
      const [a, b] = await commitAndList(h, [taken('c', 1), taken('c', 2)]);
      // b finished parsing first: the earlier id still becomes the primary.
      await h.store.saveParsed([
        { id: b!, outcome: reportB(), deliveries: [delivery(b!, 'all'), delivery(b!, 'dave')] },
        { id: a!, outcome: toParsedRecord(reportA()), deliveries: [delivery(a!, 'all')] },
      ]);
      assert.deepEqual((await h.deliveries()).map((x) => [x.id, x.messageId]), [[`c.all.${a}`, a], [`c.dave.${a}`, a]], 'none for the merged report');
      for (const x of await h.deliveries()) assert.equal(x.dueAt, x.createdAt, 'nothing waits behind the group: due at once');
      assert.deepEqual((await h.store.search({})).map((x) => x.id), [a], 'the merged report is not listed');
      assert.deepEqual((await h.store.search({ to: 'dave@' })).map((x) => x.id), [a], "the primary's recipients have the blind copy");
      assert.deepEqual((await h.store.search({ query: textQuery('dave bob') })).map((x) => x.id), [a]);
      const s = await h.store.stats();
      assert.equal(s.messages, 2, 'both reports were taken and are archived raw');
      assert.equal(s.journalMerged, 1);
      assert.equal(s.connections['c']?.journalMerged, 1);
      const exported: number[] = [];
      for await (const x of h.store.listForExport()) exported.push(x.id);
      assert.deepEqual(exported, [a, b]);
    }));

  test(`${name} parse queue: a report saved while mail of its connection waits is held for the settle window; the later one merges; saving again changes nothing`, () =>
    withStore(
      factory,
      async (h) => {
        const [a, b] = await commitAndList(h, [taken('c', 1), taken('c', 2)]);
        await h.store.saveParsed([{ id: a!, outcome: reportA(), deliveries: [delivery(a!, 'all')] }]);
        assert.deepEqual((await h.deliveries()).map((x) => [x.id, x.dueAt - x.createdAt]), [[`c.all.${a}`, SETTLE]]);
        await h.store.saveParsed([{ id: b!, outcome: reportB(), deliveries: [delivery(b!, 'all'), delivery(b!, 'dave')] }]);
        const first = await h.deliveries();
        assert.deepEqual(first.map((x) => x.id), [`c.all.${a}`, `c.dave.${a}`]);
        assert.deepEqual((await h.store.search({ to: 'dave@' })).map((x) => x.id), [a]);
        await h.store.saveParsed([{ id: b!, outcome: reportB() }]);
        await h.store.saveParsed([{ id: a!, outcome: reportA() }]);
        await h.store.saveParsed([{ id: a!, outcome: reportA() }, { id: b!, outcome: reportB() }]);
        assert.deepEqual(await h.deliveries(), first);
        assert.deepEqual((await h.store.search({ to: 'dave@' })).map((x) => x.id), [a], 'the primary parsed again keeps what was merged into it');
        assert.deepEqual((await h.store.search({})).map((x) => x.id), [a]);
        assert.equal((await h.store.stats()).journalMerged, 1);
      },
      { journalSettleMs: SETTLE },
    ));

  test(`${name} parse queue: two saves in flight at once still give one primary`, () =>
    withStore(factory, async (h) => {
      const [a, b] = await commitAndList(h, [taken('c', 1), taken('c', 2)]);
      await Promise.all([h.store.saveParsed([{ id: b!, outcome: reportB() }]), h.store.saveParsed([{ id: a!, outcome: reportA() }])]);
      assert.equal((await h.store.search({})).length, 1);
      assert.equal((await h.store.stats()).journalMerged, 1);
      assert.equal((await h.store.search({ to: 'dave@' })).length, 1);
    }));

  test(`${name} parse queue: reports of another connection or another sender, and mail that is no unwrapped report, do not merge`, () =>
    withStore(
      factory,
      async (h) => {
        const [a, other, plain] = await commitAndList(h, [taken('c', 1), taken('c', 2), taken('c', 3)]);
        const [elsewhere] = await commitAndList(h, [taken('d', 1, 4)]);
        // Mail of c still waiting behind the group.
        await commitAndList(h, [taken('c', 5)]);
        await h.store.saveParsed([
          { id: a!, outcome: reportA(), deliveries: [delivery(a!, 'all')] },
          { id: other!, outcome: reportB({ sender: 'mallory@contoso.example' }) },
          { id: plain!, outcome: parsedOk({ GlobalMessageId: 'merger@contoso.example' }), deliveries: [delivery(plain!, 'all')] },
        ]);
        await h.store.saveParsed([{ id: elsewhere!, outcome: reportB(), deliveries: [delivery(elsewhere!, 'all', 'd')] }]);
        assert.equal((await h.store.stats()).journalMerged, 0);
        assert.equal((await h.store.search({})).length, 5, 'every message is listed, the one still waiting too');
        const d = await h.deliveries();
        assert.equal(d.find((x) => x.messageId === plain)!.dueAt, NOW, 'other mail is due at once');
        assert.equal(d.find((x) => x.messageId === a)!.dueAt, NOW + SETTLE, 'a report with mail waiting behind it is held');
        assert.equal(d.find((x) => x.messageId === elsewhere)!.dueAt, NOW, 'nothing of d waits');
      },
      { journalSettleMs: SETTLE },
    ));

  test(`${name} parse queue: journalSettleMs 0 never holds`, () =>
    withStore(
      factory,
      async (h) => {
        const [a] = await commitAndList(h, [taken('c', 1), taken('c', 2)]);
        await h.store.saveParsed([{ id: a!, outcome: reportA(), deliveries: [delivery(a!, 'all')] }]);
        const [x] = await h.deliveries();
        assert.equal(x!.dueAt, x!.createdAt);
      },
      { journalSettleMs: 0 },
    ));
}
