/**
 * Server responses over EWS end to end: the real CLI drains the EWS simulator (loopback HTTPS,
 * NTLM) with deletePolicy leave and a route whose `response` marks the item read and adds a
 * category and whose `errorResponse` moves it to a folder; the simulator's mailbox is read
 * afterwards. Webhooks go to a real receiver on 127.0.0.1. Never run against a real Exchange.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeWorkspace, runCli, type Workspace } from '../harness/cli.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { startEwsSimulator, type EwsSimulator, type SimItem } from '../harness/ews-simulator.js';
import { ewsConnectionInput } from '../harness/ews-connection.js';
import { startWebhookReceiver, type ReceivedRequest } from '../harness/webhook-receiver.js';

const sims: EwsSimulator[] = [];
after(async () => {
  await Promise.all(sims.map((s) => s.stop()));
});

interface Summary {
  taken: number;
  connections: Record<string, { responses: { applied: number; notApplicable: number; failed: number } }>;
  routes: Record<string, { delivered: number; dead: number }>;
}

async function drain(ws: Workspace, exit: number): Promise<Summary> {
  const r = await runCli(['drain', '--json'], ws);
  // 1 when a delivery was dead-lettered (DELIVERIES_DEAD); the summary is printed all the same.
  assert.equal(r.code, exit, r.stderr);
  return JSON.parse(r.stdout.trim()) as Summary;
}

/** The items of a folder keyed by the number of the test message whose bytes they hold. */
function byNumber(items: SimItem[], raws: Buffer[]): Map<number, SimItem> {
  const index = new Map(raws.map((r, i) => [sha256(r), i]));
  return new Map(items.map((it) => [index.get(sha256(it.raw))!, it]));
}

test('ews: deletePolicy leave with a route response: items read and categorised in place, dead letters moved to Failed; recorded applied, nothing applied twice', async () => {
  const s = await startEwsSimulator({ auth: ['NTLM'], channelBinding: 'required', validateFirst: Infinity });
  sims.push(s);
  s.createFolder('Failed');
  const raws = Array.from({ length: 6 }, (_, i) => makeMessage(i, { bodyBytes: 800, tag: 'ews-responses' }));
  let t = Date.UTC(2026, 0, 1);
  for (const raw of raws) s.add('Inbox', raw, { received: new Date((t += 1000)) });
  const recv = await startWebhookReceiver({ secret: 's' });
  const num = (r: ReceivedRequest): number => Number(/^Report (\d+)/.exec(r.body.message.Subject)?.[1]);
  recv.answer((r) => ({ status: num(r) % 3 === 1 ? 400 : 200 }));
  const ws = makeWorkspace({
    connections: [ewsConnectionInput(s, { deletePolicy: 'leave' })],
    deliveryRetry: { baseMs: 50, maxMs: 200 },
    routes: [
      {
        name: 'hook',
        connection: 'journal',
        response: { addFlags: ['\\Seen', '$Processed'] },
        errorResponse: { addFlags: ['$Failed'], moveTo: 'Failed' },
        scenario: [{ action: 'webhook', url: recv.url, secret: 's' }],
      },
    ],
  });
  try {
    const sum = await drain(ws, 1);
    assert.equal(sum.taken, 6);
    assert.equal(sum.routes.hook!.delivered, 4);
    assert.equal(sum.routes.hook!.dead, 2);
    assert.deepEqual(sum.connections.journal!.responses, { applied: 6, notApplicable: 0, failed: 0 });

    const inbox = byNumber(s.items('Inbox'), raws);
    assert.deepEqual([...inbox.keys()].sort(), [0, 2, 3, 5], 'leave: the delivered ones stay');
    for (const [i, it] of inbox) assert.deepEqual([it.isRead, it.categories], [true, ['$Processed']], `message ${i}`);
    const failed = byNumber(s.items('Failed'), raws);
    assert.deepEqual([...failed.keys()].sort(), [1, 4], 'the dead ones moved to Failed');
    for (const [i, it] of failed) assert.deepEqual([it.isRead, it.categories], [false, ['$Failed']], `message ${i} in Failed`);

    const list = await runCli(['deliveries', 'list', '--json'], ws);
    assert.equal(list.code, 0, list.stderr);
    const results = list.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { state: string; responseResult?: string }));
    assert.deepEqual(results.map((d) => [d.state, d.responseResult]).sort(), [...Array(4).fill(['done', 'applied']), ...Array(2).fill(['dead', 'applied'])].sort());
    assert.deepEqual(s.validationErrors, []);

    const before = s.requests.length;
    const again = await drain(ws, 0);
    assert.equal(again.taken, 0);
    assert.deepEqual(again.connections.journal!.responses, { applied: 0, notApplicable: 0, failed: 0 });
    const ops = s.requests.slice(before).map((r) => r.operation);
    assert.deepEqual(ops.filter((op) => op === 'UpdateItem' || op === 'MoveItem'), [], 'nothing applied twice');
  } finally {
    await recv.close();
    ws.cleanup();
  }
});
