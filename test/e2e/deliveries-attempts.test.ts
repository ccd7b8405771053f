/**
 * `deliveries list` tells how many attempts a delivery took, also once it failed, was retried and
 * then went through (issue 12, item 19: it showed `attempts 0`).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDovecot, type DovecotInstance } from '../harness/dovecot.js';
import { makeWorkspace, runCli, imapConnection } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { startWebhookReceiver } from '../harness/webhook-receiver.js';

let dovecot: DovecotInstance;
before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

test('a delivery that failed twice and then went through lists attempts 3, in every scenario shape', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [0, 1, 2].map((i) => makeMessage(i)));
  const hook = await startWebhookReceiver();
  // Each delivery step (idempotency key) is refused twice with a 503, then accepted.
  const seen = new Map<string, number>();
  hook.answer((req) => {
    const n = (seen.get(req.key) ?? 0) + 1;
    seen.set(req.key, n);
    return { status: n <= 2 ? 503 : 200 };
  });
  const webhook = { action: 'webhook', url: hook.url, maxAttempts: 5 };
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user)],
    deliveryRetry: { baseMs: 50, maxMs: 200 },
    routes: [
      { name: 'alone', connection: 'journal', bus: 0, scenario: [webhook] },
      { name: 'after_archive', connection: 'journal', bus: 1, scenario: [{ action: 'archive' }, webhook] },
      { name: 'two_hooks', connection: 'journal', bus: 2, scenario: [webhook, webhook] },
    ],
  });
  try {
    const r = await runCli(['drain', '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    const list = await runCli(['deliveries', 'list', '--json'], ws);
    assert.equal(list.code, 0, list.stderr);
    const rows = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; route: string; state: string; attempts: number });
    assert.equal(rows.length, 9);
    // The last step's attempts: two refused, the third accepted.
    const wrong = rows.filter((d) => d.state !== 'done' || d.attempts !== 3).map((d) => `${d.id} ${d.state} attempts ${d.attempts}`);
    assert.deepEqual(wrong, [], 'every delivery done, listing the 3 attempts its last step took');
  } finally {
    ws.cleanup();
    await hook.close();
  }
});
