/**
 * The HoldStore port's contract (docs/legal-hold.md), extracted from store-sqlite's own tests so
 * every store passes the same: holds by id placed, listed, counted, released once and kept for
 * the record, names unique for ever, unknown ids refused by name; the purge's question
 * (`createHeldAmong`) answered from them; and a hold by query held against messages as search
 * holds them (a message not parsed yet held by every query hold), which needs full-text search
 * (`todo.fullText` marks those tests for a store whose search is not built yet).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHeldAmong } from '../../src/core/holds/held-among.js';
import type { LegalHold } from '../../src/core/holds/legal-hold.js';
import { MailsluiceError } from '../../src/core/errors/index.js';
import { commitAndList, parsedOk, sha, taken, withRoles, type ArchiveRolesFactory } from './store-harness.js';

const hold = (name: string, over: Partial<LegalHold>): LegalHold => ({
  name,
  reason: 'matter',
  query: null,
  ids: [],
  placedBy: 'counsel',
  placedAt: 1,
  releasedBy: null,
  releasedAt: null,
  releaseReason: null,
  ...over,
});

const code = (c: string, text?: RegExp) => (e: unknown): boolean => e instanceof MailsluiceError && e.code === c && (!text || text.test(e.message));

/** Registers the hold store's contract tests for the adapter `name`. */
export function runHoldStoreContract(name: string, factory: ArchiveRolesFactory, todo: { fullText?: string } = {}): void {
  test(`${name} holds: by ids placed, listed, counted and released once; names unique for ever; unknown ids refused`, () =>
    withRoles(factory, async (h) => {
      const [a, b, c] = await commitAndList(h, [taken('c', 1), taken('c', 2), taken('c', 3)]);
      await h.holds.placeHold(hold('matter-2', { ids: [a!, c!], placedAt: 5 }));
      await h.holds.placeHold(hold('matter-1', { ids: [b!] }));
      assert.deepEqual(await h.holds.getHold('matter-2'), hold('matter-2', { ids: [a!, c!], placedAt: 5 }));
      assert.equal(await h.holds.getHold('nothing'), null);
      assert.deepEqual((await h.holds.listHolds()).map((x) => x.name), ['matter-1', 'matter-2']);
      assert.equal(await h.holds.countHeld({ query: null, ids: [a!, c!, 999_999] }), 2, 'an id no message has counts nothing');

      const released = await h.holds.releaseHold('matter-1', { by: 'counsel', at: 9, reason: 'settled' });
      assert.deepEqual([released.releasedBy, released.releasedAt, released.releaseReason, released.ids], ['counsel', 9, 'settled', [b!]]);
      assert.deepEqual((await h.holds.getHold('matter-1'))?.releasedAt, 9);
      assert.deepEqual((await h.holds.listHolds()).map((x) => x.name), ['matter-2'], 'released holds are not active');
      assert.deepEqual((await h.holds.listHolds({ all: true })).map((x) => [x.name, x.releasedAt !== null]), [['matter-2', false], ['matter-1', true]], 'active first');

      await assert.rejects(h.holds.releaseHold('matter-1', { by: 'x', at: 10, reason: 'again' }), code('HOLD_RELEASED'));
      await assert.rejects(h.holds.releaseHold('nothing', { by: 'x', at: 10, reason: 'r' }), code('HOLD_NOT_FOUND'));
      await assert.rejects(h.holds.placeHold(hold('matter-1', { ids: [a!] })), code('HOLD_EXISTS'), 'a released name is still taken');
      await assert.rejects(h.holds.placeHold(hold('x', { ids: [a!, 999_999] })), code('HOLD_INVALID', /999999/));
      assert.equal(await h.holds.getHold('x'), null, 'nothing of a refused hold is kept');
      await assert.rejects(h.holds.placeHold(hold('q', { query: 'merger "terms' })), code('HOLD_INVALID', /query: search query: a quote opens/));
      await assert.rejects(h.holds.placeHold(hold('p', { query: '-- ?' })), code('HOLD_INVALID', /no letter or digit/));
    }));

  test(`${name} holds: the purge's question over holds by id; a released hold keeps nothing`, () =>
    withRoles(factory, async (h) => {
      const ids = await commitAndList(h, [1, 2, 3, 4].map((n) => taken('c', n)));
      await h.holds.placeHold(hold('one', { ids: [ids[0]!, ids[2]!] }));
      await h.holds.placeHold(hold('two', { ids: [ids[2]!] }));
      await h.holds.placeHold(hold('gone', { ids: [ids[3]!] }));
      await h.holds.releaseHold('gone', { by: 'counsel', at: 2, reason: 'settled' });
      const heldAmong = createHeldAmong(h.holds);
      assert.deepEqual(await heldAmong(ids), new Map([[ids[0]!, ['one']], [ids[2]!, ['one', 'two']]]));
      assert.deepEqual(await heldAmong([ids[1]!, ids[3]!]), new Map());
      assert.deepEqual(await heldAmong([]), new Map());
    }));

  test(`${name} holds: the messages of one blob, one per connection that took it`, () =>
    withRoles(factory, async (h) => {
      const [a] = await commitAndList(h, [taken('c', 1)]);
      const [b] = await commitAndList(h, [taken('d', 7, 1, { blob: false })]);
      await commitAndList(h, [taken('c', 2)]);
      assert.deepEqual(await h.holds.messageIdsOf(sha(1)), [a, b]);
      assert.deepEqual(await h.holds.messageIdsOf(sha(9)), []);
    }));

  const textTodo = todo.fullText ? { todo: todo.fullText } : {};
  test(`${name} holds: a query holds what search finds among the ids asked, and every message not parsed yet`, textTodo, () =>
    withRoles(factory, async (h) => {
      const ids = await commitAndList(h, [1, 2, 3, 4, 5].map((n) => taken('c', n)));
      const [a, b, c, d, e] = ids as [number, number, number, number, number];
      await h.store.saveParsed([
        { id: a, outcome: parsedOk({ TextBody: 'the merger terms' }) },
        { id: b, outcome: parsedOk({ TextBody: 'quarterly figures' }) },
        { id: c, outcome: parsedOk({ TextBody: 'merger closed', Subject: 'Done' }) },
        { id: d, outcome: parsedOk({ TextBody: 'lunch' }) },
      ]);
      assert.deepEqual(await h.holds.matchAmong('merger', ids), [a, c, e], 'e is not parsed yet: held until it is');
      assert.deepEqual(await h.holds.matchAmong('merger', [b, d]), []);
      assert.deepEqual(await h.holds.matchAmong('merger', []), []);
      assert.equal(await h.holds.countHeld({ query: 'merger', ids: [b] }), 3, 'a and c by the query, b by id');
      await h.holds.placeHold(hold('custodian', { query: 'merger' }));
      assert.deepEqual(await createHeldAmong(h.holds)([a, b]), new Map([[a, ['custodian']]]));
    }));
}
