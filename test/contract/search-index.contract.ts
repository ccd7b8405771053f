/**
 * The SearchIndex port's contract: full-text terms (words, "phrases", prefixes, all required)
 * and the field filters, newest first, limited. Every store adapter passes it.
 */
import { textQuery } from '../harness/search-text.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commitAndList, parsedOk, taken, withStore, type StoreFactory, type StoreHarness } from './store-harness.js';

/** Three parsed messages of two connections, and one still waiting to be parsed. */
async function fill(h: StoreHarness): Promise<{ q1: number; lunch: number; offsite: number; waiting: number }> {
  const [q1, lunch] = await commitAndList(h, [taken('c', 1), taken('c', 2)]);
  const [offsite] = await commitAndList(h, [taken('d', 1, 3)]);
  const [waiting] = await commitAndList(h, [taken('c', 4)]);
  await h.store.saveParsed([
    { id: q1!, outcome: parsedOk() },
    {
      id: lunch!,
      outcome: parsedOk({
        From: { Name: 'Bob', Address: 'bob@example.test' },
        To: [{ Name: 'Carol', Address: 'carol@example.test' }],
        Cc: [{ Name: '', Address: 'dan@example.test' }],
        Subject: 'Lunch on Friday?',
        ReceivedDate: '2024-03-08T12:00:00.000Z',
        TextBody: '',
        HtmlBody: '<p>The <b>noodle</b> place downtown</p>',
      }),
    },
    {
      id: offsite!,
      outcome: parsedOk({
        Subject: 'Offsite agenda',
        ReceivedDate: '2024-04-02T09:00:00.000Z',
        TextBody: 'see the attached agenda for the offsite',
        Attachments: [{ Name: 'agenda.pdf', Extension: 'pdf', ContentType: 'application/pdf', Size: 10, Sha256: 'e'.repeat(64) }],
      }),
    },
  ]);
  return { q1: q1!, lunch: lunch!, offsite: offsite!, waiting: waiting! };
}

const ids = async (h: StoreHarness, q: Parameters<StoreHarness['store']['search']>[0]): Promise<number[]> => (await h.store.search(q)).map((x) => x.id);

/** Registers the search index's contract tests for the adapter `name`. */
export function runSearchIndexContract(name: string, factory: StoreFactory): void {
  test(`${name} search index: text matches words, phrases and prefixes in subject, addresses, body and attachment names; all terms required`, () =>
    withStore(factory, async (h) => {
      const m = await fill(h);
      assert.deepEqual(await ids(h, { query: textQuery('revenue') }), [m.q1]);
      assert.deepEqual(await ids(h, { query: textQuery('REVENUE grew') }), [m.q1], 'case-insensitive');
      assert.deepEqual(await ids(h, { query: textQuery('revenue lunch') }), [], 'every term must match');
      assert.deepEqual(await ids(h, { query: textQuery('"noodle place"') }), [m.lunch], 'an HTML body is indexed without its tags');
      assert.deepEqual(await ids(h, { query: textQuery('"place noodle"') }), [], 'a phrase keeps its order');
      assert.deepEqual(await ids(h, { query: textQuery('noodl*') }), [m.lunch]);
      assert.deepEqual(await ids(h, { query: textQuery('agenda.pdf') }), [m.offsite]);
      assert.deepEqual(await ids(h, { query: textQuery('carol') }), [m.lunch], 'recipients are indexed');
      assert.deepEqual(await ids(h, { query: textQuery('nothing-like-this') }), []);
    }));

  test(`${name} search index: field filters, newest first, limited`, () =>
    withStore(factory, async (h) => {
      const m = await fill(h);
      assert.deepEqual(await ids(h, {}), [m.waiting, m.offsite, m.lunch, m.q1], 'everything, newest first, also what waits to be parsed');
      assert.deepEqual(await ids(h, { limit: 2 }), [m.waiting, m.offsite]);
      assert.deepEqual(await ids(h, { from: 'BOB@' }), [m.lunch], 'from: a substring, case-insensitive');
      assert.deepEqual(await ids(h, { to: 'dan@' }), [m.lunch], 'to: also Cc');
      assert.deepEqual(await ids(h, { from: '%' }), [], 'a LIKE wildcard is a character');
      assert.deepEqual(await ids(h, { connection: 'd' }), [m.offsite]);
      assert.deepEqual(await ids(h, { since: '2024-03-08T00:00:00.000Z' }), [m.offsite, m.lunch]);
      assert.deepEqual(await ids(h, { before: '2024-03-08T12:00:00.000Z' }), [m.q1], 'before is exclusive');
      assert.deepEqual(await ids(h, { hasAttachment: true }), [m.offsite]);
      assert.deepEqual(await ids(h, { hasAttachment: false }), [m.lunch, m.q1]);
      assert.deepEqual(await ids(h, { query: textQuery('agenda'), connection: 'c' }), []);
      const [hit] = await h.store.search({ query: textQuery('lunch') });
      assert.deepEqual(hit, { id: m.lunch, sha256: taken('c', 2).sha256, connection: 'c', from: 'Bob <bob@example.test>', subject: 'Lunch on Friday?', date: '2024-03-08T12:00:00.000Z', size: taken('c', 2).size });
    }));

  test(`${name} search index: count is what search lists without its limit, stopped at the limit given`, () =>
    withStore(factory, async (h) => {
      await fill(h);
      assert.deepEqual(await h.store.count({}), { total: 4, more: false });
      assert.deepEqual(await h.store.count({ limit: 2 }), { total: 2, more: true }, 'counted no further than the limit');
      assert.deepEqual(await h.store.count({ limit: 10 }), { total: 4, more: false });
      assert.deepEqual(await h.store.count({ limit: 4 }), { total: 4, more: false }, 'exactly the limit: no more');
      assert.equal((await h.store.count({ query: textQuery('agenda') })).total, 1);
      assert.equal((await h.store.count({ from: 'bob@', hasAttachment: false })).total, 1);
      assert.equal((await h.store.count({ query: textQuery('nothing-like-this') })).total, 0);
    }));

  test(`${name} search index: a message parsed again replaces its full-text row`, () =>
    withStore(factory, async (h) => {
      const [a] = await commitAndList(h, [taken('c', 1)]);
      await h.store.saveParsed([{ id: a!, outcome: parsedOk({ TextBody: 'first words' }) }]);
      await h.store.saveParsed([{ id: a!, outcome: parsedOk({ TextBody: 'second words' }) }]);
      assert.deepEqual(await ids(h, { query: textQuery('second') }), [a]);
      assert.deepEqual(await ids(h, { query: textQuery('first') }), []);
      assert.deepEqual(await ids(h, { query: textQuery('words') }), [a]);
    }));
}
