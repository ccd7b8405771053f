/**
 * Scenario responses over EWS (`EwsSource.applyResponses`, `source-ews/ews-responses.ts`) against
 * the EWS simulator, every request validated against the project's EWS schemas: `\Seen` marks the
 * item read, keywords become categories merged with those it has (the mapping is the core's,
 * `test/unit/exchange-response-plan.test.ts`), moves go to a folder by path,
 * batched (one GetItem, one UpdateItem, one MoveItem per folder); a folder that does not exist
 * and a flag with no EWS equivalent fail, an item gone is not applicable. Never run against a
 * real Exchange.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { EwsClient, createEwsSource, ewsClientOptions } from '../../src/adapters/source-ews/index.js';
import * as soap from '../../src/adapters/source-ews/ews-soap.js';
import { ewsKey } from '../../src/adapters/source-ews/ews-source.js';
import { JsonlLogger } from '../../src/adapters/logger-jsonl/index.js';
import type { ResponseOutcome, ResponseRequest } from '../../src/core/ports/mailbox-source.js';
import { startEwsSimulator, type EwsSimulator } from '../harness/ews-simulator.js';
import { ewsConnection } from '../harness/ews-connection.js';
import { makeMessage } from '../harness/messages.js';

const sims: EwsSimulator[] = [];
after(async () => {
  await Promise.all(sims.map((s) => s.stop()));
});

let clock = Date.UTC(2026, 0, 1);

async function apply(s: EwsSimulator, requests: ResponseRequest[]): Promise<Map<string, ResponseOutcome>> {
  const src = createEwsSource(ewsConnection(s, { deletePolicy: 'leave' }), new JsonlLogger([]));
  try {
    await src.open();
    return new Map((await src.applyResponses(requests)).map((o) => [o.id, o]));
  } finally {
    await src.close();
  }
}

test('responses are applied on the server in batches; categories merge; a missing folder and \\Flagged fail; a deleted item is not applicable', async () => {
  const s = await startEwsSimulator({ auth: ['NTLM'], validateFirst: Infinity });
  sims.push(s);
  s.createFolder('Done');
  const raws = [1, 2, 3, 4, 5, 6].map((n) => makeMessage(n));
  const [a, b, c, d, e, f] = raws.map((raw) => s.add('Inbox', raw, { received: new Date((clock += 1000)) }));
  const key = (id: string | undefined): string => ewsKey(id!);

  // A category from an earlier response stays when the next adds another.
  const first = await apply(s, [{ id: 'a0', key: key(a), response: { addFlags: ['Blue'] } }]);
  assert.deepEqual(first.get('a0'), { id: 'a0', outcome: 'applied' });

  // Item f is deleted by another client before the responses run.
  const client = new EwsClient(ewsClientOptions(ewsConnection(s)));
  try {
    await client.call('DeleteItem', soap.deleteItem([f!], 'HardDelete'));
  } finally {
    client.close();
  }

  const before = s.requests.length;
  const out = await apply(s, [
    { id: 'a', key: key(a), response: { addFlags: ['\\Seen', '$Processed'] } },
    { id: 'b', key: key(b), response: { addFlags: ['$Processed'], moveTo: 'Done' } },
    { id: 'c', key: key(c), response: { moveTo: 'Done' } },
    { id: 'c2', key: key(c), response: { moveTo: 'Elsewhere' } },
    { id: 'd', key: key(d), response: { addFlags: ['\\Flagged'] } },
    { id: 'e', key: key(e), response: { moveTo: 'Missing' } },
    { id: 'f', key: key(f), response: { addFlags: ['$Processed'], moveTo: 'Done' } },
    { id: 'x', key: 'imap:INBOX:7:1', response: { addFlags: ['$Processed'] } },
  ]);
  for (const id of ['a', 'b', 'c']) assert.deepEqual(out.get(id), { id, outcome: 'applied' }, id);
  assert.deepEqual(out.get('c2'), { id: 'c2', outcome: 'not-applicable', reason: 'the item was moved to "Done" by another response' });
  assert.equal(out.get('d')?.outcome, 'failed');
  assert.match(out.get('d')!.reason!, /no equivalent of the flag \\Flagged/);
  assert.equal(out.get('e')?.outcome, 'failed');
  assert.match(out.get('e')!.reason!, /no folder "Missing"/);
  assert.deepEqual(out.get('f'), { id: 'f', outcome: 'not-applicable', reason: 'the item is no longer in "INBOX"' });
  assert.equal(out.get('x')?.outcome, 'not-applicable');

  // Batched: one GetItem for all, one UpdateItem with every change, one MoveItem per folder that exists.
  const ops = s.requests.slice(before).map((r) => r.operation).filter((op) => ['GetItem', 'UpdateItem', 'MoveItem'].includes(op));
  assert.deepEqual(ops, ['GetItem', 'UpdateItem', 'MoveItem']);

  // The simulator's mailbox holds what was asked.
  const byRaw = (folder: string, raw: Buffer) => s.items(folder).find((i) => i.raw.equals(raw));
  const inA = byRaw('Inbox', raws[0]!)!;
  assert.equal(inA.isRead, true);
  assert.deepEqual(inA.categories, ['Blue', '$Processed']);
  const doneB = byRaw('Done', raws[1]!);
  assert.ok(doneB, 'b moved to Done');
  assert.deepEqual(doneB.categories, ['$Processed']);
  assert.equal(doneB.isRead, false);
  assert.ok(byRaw('Done', raws[2]!), 'c moved to Done');
  assert.equal(byRaw('Inbox', raws[1]!), undefined);
  assert.deepEqual(byRaw('Inbox', raws[3]!)!.categories, [], 'd unchanged');
  assert.ok(byRaw('Inbox', raws[4]!), 'e stays');
  assert.deepEqual(s.validationErrors, []);

  // Applied again (a crash before the record): IsRead and categories change nothing, the moved items are gone.
  const again = await apply(s, [
    { id: 'a', key: key(a), response: { addFlags: ['\\Seen', '$Processed'] } },
    { id: 'b', key: key(b), response: { addFlags: ['$Processed'], moveTo: 'Done' } },
  ]);
  assert.deepEqual(again.get('a'), { id: 'a', outcome: 'applied' });
  assert.equal(again.get('b')?.outcome, 'not-applicable');
  assert.deepEqual(byRaw('Inbox', raws[0]!)!.categories, ['Blue', '$Processed']);
});
