/**
 * The mapping of a scenario response's IMAP-style flags onto an Exchange item, shared by the EWS
 * and Graph sources (`core/archive/exchange-response-plan.ts`): `\Seen` is the read state,
 * keywords are categories merged with the item's, other system flags are refused with a reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exchangeFlagMapping, planExchangeItem } from '../../src/core/archive/exchange-response-plan.js';
import { ResponseOutcomes } from '../../src/core/archive/response-outcomes.js';
import type { ResponseRequest } from '../../src/core/ports/mailbox-source.js';

const req = (id: string, addFlags?: string[], moveTo?: string): ResponseRequest => ({ id, key: `graph:${id}`, response: { ...(addFlags ? { addFlags } : {}), ...(moveTo ? { moveTo } : {}) } });

test('the flags map: \\Seen is the read state, keywords are categories, other system flags are refused', () => {
  assert.deepEqual(exchangeFlagMapping(['\\SEEN', '$Processed', 'Blue', '$Processed', '\\Flagged', '\\Answered']), {
    isRead: true,
    categories: ['$Processed', 'Blue'],
    refused: ['\\Flagged', '\\Answered'],
  });
  assert.deepEqual(exchangeFlagMapping([]), { isRead: false, categories: [], refused: [] });
});

test('an item\'s plan: categories merged with the item\'s (case-insensitively), read when any asks, a request with a refused flag failed whole', () => {
  const plan = planExchangeItem([req('a', ['\\Seen', 'blue']), req('b', ['$Processed']), req('c', ['\\Flagged', 'Red']), req('d', undefined, 'Done')], ['Blue'], 'Microsoft Graph');
  assert.deepEqual(plan.change, { isRead: true, categories: ['Blue', '$Processed'] });
  assert.deepEqual(plan.applying.map((r) => r.id), ['a', 'b']);
  assert.deepEqual(plan.refused.map((x) => x.request.id), ['c']);
  assert.match(plan.refused[0]!.reason, /^Microsoft Graph has no equivalent of the flag \\Flagged in this build/);
  // Red was not added: c was refused whole, not half applied.
  assert.ok(!plan.change!.categories!.includes('Red'));
});

test('an item\'s plan: nothing to send when everything asked for is there already, or when nothing may be applied', () => {
  const there = planExchangeItem([req('a', ['BLUE'])], ['Blue'], 'EWS');
  assert.equal(there.change, null);
  assert.deepEqual(there.applying.map((r) => r.id), ['a'], 'applied: nothing left to do');
  assert.deepEqual(planExchangeItem([req('a', ['$P'])], [], 'EWS').change, { categories: ['$P'] });
  assert.deepEqual(planExchangeItem([req('a', ['\\Seen'])], ['X'], 'EWS').change, { isRead: true });
  const refused = planExchangeItem([req('a', ['\\Draft', '\\Deleted'])], [], 'EWS');
  assert.equal(refused.change, null);
  assert.match(refused.refused[0]!.reason, /the flags \\Draft \\Deleted/);
  assert.equal(planExchangeItem([req('m', undefined, 'Done')], [], 'EWS').change, null);
});

test('outcomes: failures add up, not-applicable wins, the rest applied', () => {
  const o = new ResponseOutcomes();
  o.fail(['a', 'b'], 'one');
  o.fail(['a'], 'two');
  o.skip(['b'], 'gone');
  assert.deepEqual(o.of(req('a')), { id: 'a', outcome: 'failed', reason: 'one; two' });
  assert.deepEqual(o.of(req('b')), { id: 'b', outcome: 'not-applicable', reason: 'gone' });
  assert.deepEqual(o.of(req('c')), { id: 'c', outcome: 'applied' });
  assert.equal(o.skipped('b'), true);
});
