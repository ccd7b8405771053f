/**
 * Server responses over EWS end to end: the real CLI drains the EWS simulator (loopback HTTPS,
 * NTLM) with deletePolicy leave and a route whose `response` marks the item read and adds a
 * category and whose `errorResponse` moves it to a folder; the simulator's mailbox is read
 * afterwards. Webhooks go to a real receiver on 127.0.0.1 (`test/harness/responses-drain.ts`,
 * shared with Graph). Never run against a real Exchange.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEwsSimulator, type EwsSimulator } from '../harness/ews-simulator.js';
import { ewsConnectionInput } from '../harness/ews-connection.js';
import { assertDeliveriesApplied, assertFirstDrain, assertMailbox, assertNothingAgain, drainSummary, responseMessages, responsesWorkspace } from '../harness/responses-drain.js';

const sims: EwsSimulator[] = [];
after(async () => {
  await Promise.all(sims.map((s) => s.stop()));
});

test('ews: deletePolicy leave with a route response: items read and categorised in place, dead letters moved to Failed; recorded applied, nothing applied twice', async () => {
  const s = await startEwsSimulator({ auth: ['NTLM'], channelBinding: 'required', validateFirst: Infinity });
  sims.push(s);
  s.createFolder('Failed');
  const raws = responseMessages('ews-responses');
  let t = Date.UTC(2026, 0, 1);
  for (const raw of raws) s.add('Inbox', raw, { received: new Date((t += 1000)) });
  const { ws, recv } = await responsesWorkspace(ewsConnectionInput(s, { deletePolicy: 'leave' }));
  try {
    assertFirstDrain(await drainSummary(ws, 1));
    assertMailbox(s.items('Inbox'), s.items('Failed'), raws);
    await assertDeliveriesApplied(ws);
    assert.deepEqual(s.validationErrors, []);

    const before = s.requests.length;
    assertNothingAgain(await drainSummary(ws, 0));
    const ops = s.requests.slice(before).map((r) => r.operation);
    assert.deepEqual(ops.filter((op) => op === 'UpdateItem' || op === 'MoveItem'), [], 'nothing applied twice');
  } finally {
    await recv.close();
    ws.cleanup();
  }
});
