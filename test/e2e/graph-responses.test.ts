/**
 * Server responses over Microsoft Graph end to end: the real CLI drains the Graph simulator
 * (loopback HTTPS, client credentials) with deletePolicy leave and a route whose `response` marks
 * the message read and adds a category and whose `errorResponse` moves it to a folder; the
 * simulator's mailbox is read afterwards. Webhooks go to a real receiver on 127.0.0.1
 * (`test/harness/responses-drain.ts`, shared with EWS). Never run against a real tenant.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGraphSimulator, type GraphSimulator } from '../harness/graph-simulator.js';
import { graphConnectionInput } from '../harness/graph-connection.js';
import { assertDeliveriesApplied, assertFirstDrain, assertMailbox, assertNothingAgain, drainSummary, responseMessages, responsesWorkspace } from '../harness/responses-drain.js';

const sims: GraphSimulator[] = [];
after(async () => {
  await Promise.all(sims.map((s) => s.stop()));
});

test('graph: deletePolicy leave with a route response: messages read and categorised in place, dead letters moved to Failed; recorded applied, nothing applied twice', async () => {
  const s = await startGraphSimulator();
  sims.push(s);
  s.createFolder('Failed');
  const raws = responseMessages('graph-responses');
  let t = Date.UTC(2026, 0, 1);
  for (const raw of raws) s.add('inbox', raw, { received: new Date((t += 1000)) });
  const { ws, recv } = await responsesWorkspace(graphConnectionInput(s, { deletePolicy: 'leave' }));
  try {
    assertFirstDrain(await drainSummary(ws, 1));
    assertMailbox(s.messages('Inbox'), s.messages('Failed'), raws);
    await assertDeliveriesApplied(ws);

    const before = s.requests.length;
    assertNothingAgain(await drainSummary(ws, 0));
    const ops = s.requests.slice(before).map((r) => r.operation);
    assert.deepEqual(ops.filter((op) => op === 'updateMessage' || op === 'moveMessage'), [], 'nothing applied twice');
  } finally {
    await recv.close();
    ws.cleanup();
  }
});
