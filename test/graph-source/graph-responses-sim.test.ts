/**
 * Scenario responses over Microsoft Graph (`GraphSource.applyResponses`,
 * `source-graph/graph-responses.ts`) against the Graph simulator: `\Seen` marks the message read,
 * keywords become categories merged with those it has (the core's mapping, shared with EWS), moves
 * go to a folder by display-name path, every step a `$batch` (GETs, PATCHes, moves per folder), a
 * throttled request inside a batch waited out; a folder that does not exist and a flag with no
 * equivalent fail, a message gone is not applicable. Never run against a real tenant.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createGraphSource, graphKey } from '../../src/adapters/source-graph/index.js';
import { JsonlLogger } from '../../src/adapters/logger-jsonl/index.js';
import type { ResponseOutcome, ResponseRequest } from '../../src/core/ports/mailbox-source.js';
import { startGraphSimulator, type GraphSimulator } from '../harness/graph-simulator.js';
import { graphConnection, graphRuntime } from '../harness/graph-connection.js';
import { makeMessage } from '../harness/messages.js';

const sims: GraphSimulator[] = [];
after(async () => {
  await Promise.all(sims.map((s) => s.stop()));
});

let clock = Date.UTC(2026, 0, 1);

async function apply(s: GraphSimulator, requests: ResponseRequest[]): Promise<Map<string, ResponseOutcome>> {
  const conn = graphConnection(s, { deletePolicy: 'leave' });
  const logger = new JsonlLogger([]);
  const src = createGraphSource(conn, logger, graphRuntime(conn, logger));
  try {
    await src.open();
    return new Map((await src.applyResponses(requests)).map((o) => [o.id, o]));
  } finally {
    await src.close();
  }
}

test('graph: responses are applied in $batches; categories merge; a missing folder and \\Flagged fail; a deleted message is not applicable; applied twice harmlessly', async () => {
  const s = await startGraphSimulator();
  sims.push(s);
  s.createFolder('Inbox/Done');
  const raws = [1, 2, 3, 4, 5, 6].map((n) => makeMessage(n, { tag: 'graph-responses' }));
  const [a, b, c, d, e, f] = raws.map((raw) => s.add('inbox', raw, { received: new Date((clock += 1000)) }));
  const key = (id: string | undefined): string => graphKey(id!);

  // A category from an earlier response stays when the next adds another.
  const first = await apply(s, [{ id: 'a0', key: key(a), response: { addFlags: ['Blue'] } }]);
  assert.deepEqual(first.get('a0'), { id: 'a0', outcome: 'applied' });
  assert.deepEqual(s.message(a!)!.categories, ['Blue']);

  // Message f is deleted by another client before the responses run; two batch items are throttled.
  s.remove(f!);
  s.fault.throttleBatchItems(2, 1);
  const before = s.requests.length;
  const t0 = Date.now();
  const out = await apply(s, [
    { id: 'a', key: key(a), response: { addFlags: ['\\Seen', '$Processed', 'blue'] } },
    { id: 'b', key: key(b), response: { addFlags: ['$Processed'], moveTo: 'Inbox/Done' } },
    { id: 'c', key: key(c), response: { moveTo: 'Inbox/Done' } },
    { id: 'c2', key: key(c), response: { moveTo: 'Elsewhere' } },
    { id: 'd', key: key(d), response: { addFlags: ['\\Flagged'] } },
    { id: 'e', key: key(e), response: { moveTo: 'Inbox/Missing' } },
    { id: 'f', key: key(f), response: { addFlags: ['$Processed'], moveTo: 'Inbox/Done' } },
    { id: 'x', key: 'ews:AAMk', response: { addFlags: ['$Processed'] } },
  ]);
  assert.ok(Date.now() - t0 >= 900, 'the throttled batch items were waited out');
  for (const id of ['a', 'b', 'c']) assert.deepEqual(out.get(id), { id, outcome: 'applied' }, id);
  assert.deepEqual(out.get('c2'), { id: 'c2', outcome: 'not-applicable', reason: 'the message was moved to "Inbox/Done" by another response' });
  assert.equal(out.get('d')?.outcome, 'failed');
  assert.match(out.get('d')!.reason!, /Microsoft Graph has no equivalent of the flag \\Flagged/);
  assert.equal(out.get('e')?.outcome, 'failed');
  assert.match(out.get('e')!.reason!, /no folder "Inbox\/Missing" to move to.*no folder "Missing" under "Inbox"/);
  assert.deepEqual(out.get('f'), { id: 'f', outcome: 'not-applicable', reason: 'the message is no longer in "Inbox"' });
  assert.equal(out.get('x')?.outcome, 'not-applicable');

  // Batched: GETs, PATCHes and one folder's moves, each in $batch (the throttled items once more).
  const mine = s.requests.slice(before);
  const items = (op: string): number => mine.filter((r) => r.inBatch && r.operation === op && r.status < 400).length;
  assert.equal(items('getMessage'), 5, 'a, b, c, d, e looked at (f answered 404)');
  assert.equal(items('updateMessage'), 2, 'a and b updated; c, d, e need no PATCH');
  assert.equal(items('moveMessage'), 2, 'b and c moved');
  assert.equal(mine.filter((r) => !r.inBatch && ['getMessage', 'updateMessage', 'moveMessage'].includes(r.operation)).length, 0, 'nothing outside a $batch');

  // The simulator's mailbox holds what was asked.
  const byRaw = (folder: string, raw: Buffer) => s.messages(folder).find((m) => m.raw.equals(raw));
  const inA = byRaw('Inbox', raws[0]!)!;
  assert.equal(inA.isRead, true);
  assert.deepEqual(inA.categories, ['Blue', '$Processed']);
  const doneB = byRaw('Inbox/Done', raws[1]!);
  assert.ok(doneB, 'b moved to Inbox/Done');
  assert.deepEqual([doneB.categories, doneB.isRead], [['$Processed'], false]);
  assert.ok(byRaw('Inbox/Done', raws[2]!), 'c moved to Inbox/Done');
  assert.equal(byRaw('Inbox', raws[1]!), undefined);
  assert.deepEqual([byRaw('Inbox', raws[3]!)!.categories, byRaw('Inbox', raws[3]!)!.flagStatus], [[], 'notFlagged'], 'd unchanged');
  assert.ok(byRaw('Inbox', raws[4]!), 'e stays');

  // Applied again (a crash before the record): isRead and categories change nothing, the moved messages are gone (a new id).
  const again = await apply(s, [
    { id: 'a', key: key(a), response: { addFlags: ['\\Seen', '$Processed'] } },
    { id: 'b', key: key(b), response: { addFlags: ['$Processed'], moveTo: 'Inbox/Done' } },
  ]);
  assert.deepEqual(again.get('a'), { id: 'a', outcome: 'applied' });
  assert.equal(again.get('b')?.outcome, 'not-applicable');
  assert.deepEqual(byRaw('Inbox', raws[0]!)!.categories, ['Blue', '$Processed']);
  assert.equal(s.messages('Inbox/Done').length, 2);
});

test('graph: a well-known folder as moveTo; more messages than one $batch holds', async () => {
  const s = await startGraphSimulator();
  sims.push(s);
  const raws = Array.from({ length: 45 }, (_, n) => makeMessage(n, { tag: 'graph-responses-many' }));
  const ids = raws.map((raw) => s.add('inbox', raw, { received: new Date((clock += 1000)) }));
  const before = s.requests.length;
  const out = await apply(s, ids.map((id, n) => ({ id: `r${n}`, key: graphKey(id), response: { addFlags: ['\\Seen'], moveTo: 'archive' } })));
  assert.deepEqual([...out.values()].filter((o) => o.outcome !== 'applied'), []);
  assert.equal(s.messages('inbox').length, 0);
  const archived = s.messages('archive');
  assert.equal(archived.length, 45);
  assert.ok(archived.every((m) => m.isRead));
  // 45 messages: 3 $batches each for the GETs, the PATCHes and the moves (at most 20 a batch).
  assert.equal(s.requests.slice(before).filter((r) => r.operation === 'batch').length, 9);
});

test('graph: a batch item still throttled after the retries fails the call (nothing recorded, tried again later), not the response', async () => {
  const s = await startGraphSimulator();
  sims.push(s);
  const id = s.add('inbox', makeMessage(1, { tag: 'graph-responses-throttled' }), { received: new Date((clock += 1000)) });
  s.fault.throttleBatchItems(100, 0);
  await assert.rejects(apply(s, [{ id: 'a', key: graphKey(id), response: { addFlags: ['$P'] } }]), (err: unknown) => (err as { code?: string }).code === 'SOURCE_PROTOCOL' && /429/.test((err as Error).message));
  assert.deepEqual(s.message(id)!.categories, []);
});
