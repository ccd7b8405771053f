/**
 * The end-to-end test of server responses through the CLI, shared by the Exchange backends (EWS,
 * Graph; `test/e2e/ews-responses.test.ts`, `test/e2e/graph-responses.test.ts`): six messages, a
 * webhook receiver on 127.0.0.1 that refuses messages 1 and 4 for good, a route whose `response`
 * marks the message read and adds `$Processed` and whose `errorResponse` adds `$Failed` and moves
 * it to `Failed`; `deletePolicy: leave`. Each test supplies the server and reads its mailbox.
 */
import assert from 'node:assert/strict';
import { makeWorkspace, runCli, type Workspace } from './cli.js';
import { makeMessage, sha256 } from './messages.js';
import { startWebhookReceiver, type ReceivedRequest, type WebhookReceiver } from './webhook-receiver.js';

/** What `drain --json` says of the responses and the route. */
export interface ResponsesSummary {
  taken: number;
  connections: Record<string, { responses: { applied: number; notApplicable: number; failed: number } }>;
  routes: Record<string, { delivered: number; dead: number }>;
}

/** The messages dead-lettered by the receiver (the rest are delivered). */
export const DEAD = [1, 4];

/** The six test messages. */
export function responseMessages(tag: string): Buffer[] {
  return Array.from({ length: 6 }, (_, i) => makeMessage(i, { bodyBytes: 800, tag }));
}

/** The receiver, and a workspace with `connection` (named `journal`) and the route. */
export async function responsesWorkspace(connection: Record<string, unknown>): Promise<{ ws: Workspace; recv: WebhookReceiver }> {
  const recv = await startWebhookReceiver({ secret: 's' });
  const num = (r: ReceivedRequest): number => Number(/^Report (\d+)/.exec(r.body.message.Subject)?.[1]);
  recv.answer((r) => ({ status: DEAD.includes(num(r)) ? 400 : 200 }));
  const ws = makeWorkspace({
    connections: [connection],
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
  return { ws, recv };
}

/** `drain --json`, expecting `exit` (1 when a delivery was dead-lettered: DELIVERIES_DEAD; the summary is printed all the same). */
export async function drainSummary(ws: Workspace, exit: number): Promise<ResponsesSummary> {
  const r = await runCli(['drain', '--json'], ws);
  assert.equal(r.code, exit, r.stderr);
  return JSON.parse(r.stdout.trim()) as ResponsesSummary;
}

/** The first drain's figures: 6 taken, 4 delivered, 2 dead, every response applied. */
export function assertFirstDrain(sum: ResponsesSummary): void {
  assert.equal(sum.taken, 6);
  assert.equal(sum.routes.hook!.delivered, 4);
  assert.equal(sum.routes.hook!.dead, 2);
  assert.deepEqual(sum.connections.journal!.responses, { applied: 6, notApplicable: 0, failed: 0 });
}

/** A second drain took nothing and applied nothing. */
export function assertNothingAgain(sum: ResponsesSummary): void {
  assert.equal(sum.taken, 0);
  assert.deepEqual(sum.connections.journal!.responses, { applied: 0, notApplicable: 0, failed: 0 });
}

/** The messages of a folder keyed by the number of the test message whose bytes they hold. */
export function byNumber<T extends { raw: Buffer }>(items: readonly T[], raws: readonly Buffer[]): Map<number, T> {
  const index = new Map(raws.map((r, i) => [sha256(r), i]));
  return new Map(items.map((it) => [index.get(sha256(it.raw))!, it]));
}

/** The mailbox after the first drain: the delivered ones read with `$Processed` in place, the dead ones unread with `$Failed` in `failed`. */
export function assertMailbox<T extends { raw: Buffer; isRead: boolean; categories: string[] }>(inbox: readonly T[], failed: readonly T[], raws: readonly Buffer[]): void {
  const kept = byNumber(inbox, raws);
  assert.deepEqual([...kept.keys()].sort(), [0, 2, 3, 5], 'leave: the delivered ones stay');
  for (const [i, it] of kept) assert.deepEqual([it.isRead, it.categories], [true, ['$Processed']], `message ${i}`);
  const moved = byNumber(failed, raws);
  assert.deepEqual([...moved.keys()].sort(), DEAD, 'the dead ones moved to Failed');
  for (const [i, it] of moved) assert.deepEqual([it.isRead, it.categories], [false, ['$Failed']], `message ${i} in Failed`);
}

/** `deliveries list`: four done and two dead, each response recorded applied. */
export async function assertDeliveriesApplied(ws: Workspace): Promise<void> {
  const list = await runCli(['deliveries', 'list', '--json'], ws);
  assert.equal(list.code, 0, list.stderr);
  const results = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as { state: string; responseResult?: string });
  assert.deepEqual(results.map((d) => [d.state, d.responseResult]).sort(), [...Array(4).fill(['done', 'applied']), ...Array(2).fill(['dead', 'applied'])].sort());
}
